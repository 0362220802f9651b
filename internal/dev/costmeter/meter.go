// Package costmeter counts what the service asks of AWS, for `make
// bench-cost`: an aws-sdk-go-v2 middleware (Meter.APIOptions, added to the
// clients' options or to aws.Config.APIOptions) counts every request per
// service and operation, and computes the DynamoDB read and write request
// units each one consumes by DynamoDB's documented rules; Meter.Secrets and
// Meter.Invoked count what no SDK client of the local stack does (the
// Secrets Manager reads behind the local secrets file, the Lambda
// invocations). Prices turns the counts into dollars.
//
// What is counted:
//
//   - every operation call (Calls) and every attempt (Billed: retries are
//     billed again); SQS SendMessage and SendMessageBatch, and SNS Publish,
//     count one billed request per started 64 KB of payload, as billed;
//   - ReceiveMessage calls that returned no message (EmptyReceives): idle
//     polling, a fixed cost of the event source mapping, not a per-event one;
//   - DynamoDB read units: GetItem ceil(size / 4 KB), Query the sum of the
//     sizes of the items it read (before any filter: a query with a filter or
//     a projection is read again, unfiltered, for its sizes) rounded up to
//     4 KB, each at least one unit, halved when eventually consistent (as
//     every GSI read is);
//   - DynamoDB write units: per item written ceil(size / 1 KB), at least one,
//     the size being the larger of the item before and after the write
//     (PutItem replacing, UpdateItem) or the deleted item (DeleteItem); plus,
//     per global secondary index of the table (from template.yaml, see
//     IndexWrites), the index writes the change makes; a transactional write
//     (TransactWriteItems) doubles the table units (prepare and commit; the
//     index propagation is counted once); a write whose condition fails still
//     consumes the units of the existing item (at least one; a cancelled
//     transaction counts each of its items so, doubled) and writes no index.
//
// The item sizes before and after a write are read with a separate client
// that the meter does not instrument (Configure), around the write, under a
// lock that serialises the metered writes: exact, and slower, which a
// benchmark can afford; the caller's requests are not changed (no
// ReturnValues are added).
package costmeter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/efs-cw/backupbridge/internal/dev/stackdef"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// Service names, as the SDK's service ids.
const (
	DynamoDB       = "DynamoDB"
	SQS            = "SQS"
	SNS            = "SNS"
	SecretsManager = "Secrets Manager"
	Lambda         = "Lambda"
	APIGateway     = "API Gateway"
)

// Op is one API operation of one service.
type Op struct{ Service, Operation string }

func (o Op) String() string { return o.Service + " " + o.Operation }

// WriteKey is where write units went: the table, or one of its indexes
// (Index, empty for the table itself), by the operation and the kind of
// item written (Label: EVENT# CLAIM, LOG# <time>#, …).
type WriteKey struct {
	Table, Index, Operation, Item string
}

// WriteStat is the writes of one WriteKey.
type WriteStat struct {
	// Writes is the number of items written (for an index: index writes).
	Writes int
	// ConditionFailed counts the writes whose condition failed (they still
	// consume units).
	ConditionFailed int
	WCU             float64
}

// ReadKey is where read units went.
type ReadKey struct {
	Table, Index, Operation, Item string
}

// ReadStat is the reads of one ReadKey.
type ReadStat struct {
	Calls, Items int
	RCU          float64
}

// Snapshot is what the meter counted.
type Snapshot struct {
	// Calls counts operation calls; Billed the billed requests (every
	// attempt, SQS and SNS per started 64 KB of payload).
	Calls  map[Op]int
	Billed map[Op]float64
	// Attempts counts the attempts of each operation (more than its calls
	// when the SDK retried).
	Attempts map[Op]int
	// EmptyReceives counts SQS ReceiveMessage calls that returned nothing.
	EmptyReceives int
	Writes        map[WriteKey]WriteStat
	Reads         map[ReadKey]ReadStat
	// Unmodelled counts DynamoDB calls whose capacity the meter does not
	// compute (BatchWriteItem, BatchGetItem, Scan, TransactGetItems, PartiQL).
	Unmodelled map[Op]int
	// Invocations and BilledMillis are the Lambda invocations by function
	// and their billed duration (each rounded up to the millisecond).
	Invocations  map[string]int
	BilledMillis map[string]int64
}

func newSnapshot() Snapshot {
	return Snapshot{
		Calls: map[Op]int{}, Billed: map[Op]float64{}, Attempts: map[Op]int{},
		Writes: map[WriteKey]WriteStat{}, Reads: map[ReadKey]ReadStat{},
		Unmodelled: map[Op]int{}, Invocations: map[string]int{}, BilledMillis: map[string]int64{},
	}
}

// WCU is the write units of the snapshot, RCU its read units.
func (s Snapshot) WCU() float64 {
	var n float64
	for _, w := range s.Writes {
		n += w.WCU
	}
	return n
}

// RCU is the read units of the snapshot.
func (s Snapshot) RCU() float64 {
	var n float64
	for _, r := range s.Reads {
		n += r.RCU
	}
	return n
}

// Meter counts requests and capacity. The zero value is not usable: New.
type Meter struct {
	mu     sync.Mutex
	s      Snapshot
	tables map[string]stackdef.Table
	peek   *dynamodb.Client

	writeMu sync.Mutex
}

// New returns a meter that counts requests; Configure makes it compute
// DynamoDB capacity too.
func New() *Meter { return &Meter{s: newSnapshot()} }

// Configure gives the meter the tables' schemas by physical name (keys,
// GSIs and projections, as template.yaml declares them: TablesOf) and a
// DynamoDB client it does not instrument, to read items before and after
// writes. Until then only requests are counted.
func (m *Meter) Configure(tables map[string]stackdef.Table, peek *dynamodb.Client) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tables, m.peek = tables, peek
}

// TablesOf maps the physical names of def's tables (names: logical id →
// physical name) to their definitions.
func TablesOf(def *stackdef.Stack, names map[string]string) map[string]stackdef.Table {
	out := map[string]stackdef.Table{}
	for _, t := range def.Tables {
		name := names[t.LogicalID]
		if name == "" {
			name = t.TableName
		}
		out[name] = t
	}
	return out
}

// Reset forgets what was counted.
func (m *Meter) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s = newSnapshot()
}

// Snapshot returns a copy of what was counted since New or Reset.
func (m *Meter) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Snapshot{
		Calls: maps.Clone(m.s.Calls), Billed: maps.Clone(m.s.Billed), Attempts: maps.Clone(m.s.Attempts), EmptyReceives: m.s.EmptyReceives,
		Writes: maps.Clone(m.s.Writes), Reads: maps.Clone(m.s.Reads), Unmodelled: maps.Clone(m.s.Unmodelled),
		Invocations: maps.Clone(m.s.Invocations), BilledMillis: maps.Clone(m.s.BilledMillis),
	}
}

// Invoked records one Lambda invocation of function that ran for d (billed
// rounded up to the millisecond).
func (m *Meter) Invoked(function string, d time.Duration) {
	ms := int64(math.Ceil(float64(d) / float64(time.Millisecond)))
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s.Invocations[function]++
	m.s.BilledMillis[function] += max(ms, 1)
	op := Op{Lambda, "Invoke " + function}
	m.s.Calls[op]++
	m.s.Billed[op]++
}

// Count records n calls of op that no instrumented client made (an API
// Gateway request, …), each billed once.
func (m *Meter) Count(op Op, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s.Calls[op] += n
	m.s.Billed[op] += float64(n)
}

// Secrets wraps a partner secret store so that each read counts as one
// Secrets Manager GetSecretValue and each write as one PutSecretValue, as
// partner.SecretsManager makes them: the local stack reads a local file
// instead (localstack.Options.WrapSecrets).
func (m *Meter) Secrets(s partner.SecretStore) partner.SecretStore { return secrets{s, m} }

type secrets struct {
	partner.SecretStore
	m *Meter
}

func (c secrets) GetSecrets(ctx context.Context, partnerID string) (partner.Secrets, error) {
	c.m.Count(Op{SecretsManager, "GetSecretValue"}, 1)
	return c.SecretStore.GetSecrets(ctx, partnerID)
}

func (c secrets) PutSecrets(ctx context.Context, partnerID string, s partner.Secrets) error {
	c.m.Count(Op{SecretsManager, "PutSecretValue"}, 1)
	return c.SecretStore.PutSecrets(ctx, partnerID, s)
}

// APIOptions install the meter on an SDK client: append them to
// aws.Config.APIOptions or to a client's Options.APIOptions.
func (m *Meter) APIOptions() []func(*middleware.Stack) error {
	return []func(*middleware.Stack) error{func(s *middleware.Stack) error {
		if err := s.Initialize.Add(middleware.InitializeMiddlewareFunc("costmeter.Operation", m.initialize), middleware.After); err != nil {
			return err
		}
		// After the retry middleware: once per attempt.
		return s.Finalize.Add(middleware.FinalizeMiddlewareFunc("costmeter.Attempt", m.finalize), middleware.After)
	}}
}

type chunksKey struct{}

func opOf(ctx context.Context) Op {
	return Op{awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)}
}

// chunks64K is the billed requests of a payload: one per started 64 KB.
func chunks64K(size int) float64 { return math.Max(1, math.Ceil(float64(size)/(64*1024))) }

func (m *Meter) initialize(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	op := opOf(ctx)
	chunks := 1.0
	switch p := in.Parameters.(type) {
	case *sqs.SendMessageInput:
		chunks = chunks64K(sqsMessageSize(aws.ToString(p.MessageBody), p.MessageAttributes))
	case *sqs.SendMessageBatchInput:
		n := 0
		for _, e := range p.Entries {
			n += sqsMessageSize(aws.ToString(e.MessageBody), e.MessageAttributes)
		}
		chunks = chunks64K(n)
	case *sns.PublishInput:
		chunks = chunks64K(len(aws.ToString(p.Message)) + len(aws.ToString(p.Subject)))
	}
	ctx = middleware.WithStackValue(ctx, chunksKey{}, chunks)
	m.mu.Lock()
	m.s.Calls[op]++
	m.mu.Unlock()

	if op.Service == DynamoDB {
		return m.dynamo(ctx, op, in, next)
	}
	out, md, err := next.HandleInitialize(ctx, in)
	if r, ok := out.Result.(*sqs.ReceiveMessageOutput); ok && err == nil && len(r.Messages) == 0 {
		m.mu.Lock()
		m.s.EmptyReceives++
		m.mu.Unlock()
	}
	return out, md, err
}

func (m *Meter) finalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	chunks, _ := middleware.GetStackValue(ctx, chunksKey{}).(float64)
	op := opOf(ctx)
	m.mu.Lock()
	m.s.Billed[op] += max(chunks, 1)
	m.s.Attempts[op]++
	m.mu.Unlock()
	return next.HandleFinalize(ctx, in)
}

// dynamo runs a DynamoDB call and records the capacity it consumed.
func (m *Meter) dynamo(ctx context.Context, op Op, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	m.mu.Lock()
	tables, peek := m.tables, m.peek
	m.mu.Unlock()
	call := func() (middleware.InitializeOutput, middleware.Metadata, error) {
		return next.HandleInitialize(ctx, in)
	}
	if tables == nil || peek == nil {
		return call()
	}
	c := capacity{m: m, tables: tables, peek: peek}
	switch p := in.Parameters.(type) {
	case *dynamodb.GetItemInput:
		return c.getItem(ctx, p, call)
	case *dynamodb.QueryInput:
		return c.query(ctx, p, call)
	case *dynamodb.PutItemInput:
		t := tables[aws.ToString(p.TableName)]
		return c.write(ctx, op.Operation, 1, []target{{table: aws.ToString(p.TableName), key: KeyOf(t, p.Item)}}, call)
	case *dynamodb.UpdateItemInput:
		return c.write(ctx, op.Operation, 1, []target{{table: aws.ToString(p.TableName), key: p.Key}}, call)
	case *dynamodb.DeleteItemInput:
		return c.write(ctx, op.Operation, 1, []target{{table: aws.ToString(p.TableName), key: p.Key}}, call)
	case *dynamodb.TransactWriteItemsInput:
		var ts []target
		for _, it := range p.TransactItems {
			switch {
			case it.Put != nil:
				name := aws.ToString(it.Put.TableName)
				ts = append(ts, target{table: name, key: KeyOf(tables[name], it.Put.Item), op: "TransactWriteItems Put"})
			case it.Update != nil:
				ts = append(ts, target{table: aws.ToString(it.Update.TableName), key: it.Update.Key, op: "TransactWriteItems Update"})
			case it.Delete != nil:
				ts = append(ts, target{table: aws.ToString(it.Delete.TableName), key: it.Delete.Key, op: "TransactWriteItems Delete"})
			case it.ConditionCheck != nil:
				ts = append(ts, target{table: aws.ToString(it.ConditionCheck.TableName), key: it.ConditionCheck.Key, op: "TransactWriteItems ConditionCheck", check: true})
			}
		}
		return c.write(ctx, op.Operation, 2, ts, call)
	case *dynamodb.BatchWriteItemInput, *dynamodb.BatchGetItemInput, *dynamodb.ScanInput, *dynamodb.TransactGetItemsInput,
		*dynamodb.ExecuteStatementInput, *dynamodb.BatchExecuteStatementInput, *dynamodb.ExecuteTransactionInput:
		m.mu.Lock()
		m.s.Unmodelled[op]++
		m.mu.Unlock()
	}
	return call()
}

type capacity struct {
	m      *Meter
	tables map[string]stackdef.Table
	peek   *dynamodb.Client
}

// target is one item a write operation writes.
type target struct {
	table string
	key   Item
	op    string // the operation as recorded (default: the call's)
	check bool   // a ConditionCheck: nothing is written
}

func (c capacity) addWrite(k WriteKey, writes, failed int, wcu float64) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	s := c.m.s.Writes[k]
	s.Writes += writes
	s.ConditionFailed += failed
	s.WCU += wcu
	c.m.s.Writes[k] = s
}

func (c capacity) addRead(k ReadKey, items int, rcu float64) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	s := c.m.s.Reads[k]
	s.Calls++
	s.Items += items
	s.RCU += rcu
	c.m.s.Reads[k] = s
}

// item reads an item with the uninstrumented client (nil when absent).
func (c capacity) item(ctx context.Context, table string, key Item) (Item, error) {
	out, err := c.peek.GetItem(context.WithoutCancel(ctx), &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("costmeter: read %s: %w", table, err)
	}
	return out.Item, nil
}

// write runs a write of targets, with mult table units per KB (2 in a
// transaction), and records its units: see the package documentation.
func (c capacity) write(ctx context.Context, op string, mult float64, ts []target, call func() (middleware.InitializeOutput, middleware.Metadata, error)) (middleware.InitializeOutput, middleware.Metadata, error) {
	c.m.writeMu.Lock()
	defer c.m.writeMu.Unlock()
	before := make([]Item, len(ts))
	for i, t := range ts {
		var err error
		if before[i], err = c.item(ctx, t.table, t.key); err != nil {
			return middleware.InitializeOutput{}, middleware.Metadata{}, err
		}
	}
	out, md, err := call()
	var ccf *types.ConditionalCheckFailedException
	var tce *types.TransactionCanceledException
	switch {
	case errors.As(err, &ccf), errors.As(err, &tce) && cancelledByCondition(tce):
		for i, t := range ts {
			o := t.op
			if o == "" {
				o = op
			}
			k := WriteKey{Table: t.table, Operation: o + " (condition failed)", Item: Label(c.tables[t.table], t.key)}
			c.addWrite(k, 1, 1, mult*WriteUnits(ItemSize(before[i])))
		}
		return out, md, err
	case err != nil:
		return out, md, err
	}
	for i, t := range ts {
		o := t.op
		if o == "" {
			o = op
		}
		tbl := c.tables[t.table]
		label := Label(tbl, t.key)
		if t.check {
			c.addWrite(WriteKey{Table: t.table, Operation: o, Item: label}, 1, 0, mult*WriteUnits(ItemSize(before[i])))
			continue
		}
		after, aerr := c.item(ctx, t.table, t.key)
		if aerr != nil {
			return out, md, aerr
		}
		c.addWrite(WriteKey{Table: t.table, Operation: o, Item: label}, 1, 0, mult*WriteUnits(max(ItemSize(before[i]), ItemSize(after))))
		for _, w := range IndexWrites(tbl, before[i], after) {
			c.addWrite(WriteKey{Table: t.table, Index: w.Index, Operation: o + " (" + w.Kind + ")", Item: label}, 1, 0, WriteUnits(w.Size))
		}
	}
	return out, md, err
}

func cancelledByCondition(tce *types.TransactionCanceledException) bool {
	for _, r := range tce.CancellationReasons {
		if aws.ToString(r.Code) == "ConditionalCheckFailed" {
			return true
		}
	}
	return false
}

func (c capacity) getItem(ctx context.Context, p *dynamodb.GetItemInput, call func() (middleware.InitializeOutput, middleware.Metadata, error)) (middleware.InitializeOutput, middleware.Metadata, error) {
	out, md, err := call()
	if err != nil {
		return out, md, err
	}
	r, _ := out.Result.(*dynamodb.GetItemOutput)
	if r == nil {
		return out, md, err
	}
	table := aws.ToString(p.TableName)
	item, found := r.Item, 0
	if item != nil {
		found = 1
		if p.ProjectionExpression != nil {
			// Units are those of the whole item, whatever was projected.
			if full, ierr := c.item(ctx, table, p.Key); ierr == nil {
				item = full
			}
		}
	}
	c.addRead(ReadKey{Table: table, Operation: "GetItem", Item: Label(c.tables[table], p.Key)}, found, ReadUnits(ItemSize(item), aws.ToBool(p.ConsistentRead)))
	return out, md, err
}

func (c capacity) query(ctx context.Context, p *dynamodb.QueryInput, call func() (middleware.InitializeOutput, middleware.Metadata, error)) (middleware.InitializeOutput, middleware.Metadata, error) {
	out, md, err := call()
	if err != nil {
		return out, md, err
	}
	r, _ := out.Result.(*dynamodb.QueryOutput)
	if r == nil {
		return out, md, err
	}
	table, index := aws.ToString(p.TableName), aws.ToString(p.IndexName)
	items := r.Items
	filtered := p.FilterExpression != nil || p.ProjectionExpression != nil ||
		(p.Select != "" && p.Select != types.SelectAllAttributes && p.Select != types.SelectAllProjectedAttributes)
	if filtered && r.ScannedCount > 0 {
		// The units are those of every item read, before the filter and
		// the projection: read them again as they are.
		q := *p
		q.FilterExpression, q.ProjectionExpression, q.Select = nil, nil, ""
		q.Limit = aws.Int32(r.ScannedCount)
		q.ExpressionAttributeNames, q.ExpressionAttributeValues = keyConditionOnly(p)
		if all, qerr := c.peek.Query(context.WithoutCancel(ctx), &q); qerr == nil {
			items = all.Items
		}
	}
	size := 0
	for _, it := range items {
		size += ItemSize(it)
	}
	tbl := c.tables[table]
	schema := tbl
	if index != "" {
		if g, ok := tbl.GSI(index); ok {
			schema = stackdef.Table{KeySchema: g.KeySchema}
		}
	}
	consistent := aws.ToBool(p.ConsistentRead) && index == ""
	c.addRead(ReadKey{Table: table, Index: index, Operation: "Query", Item: Label(schema, queryKey(schema, p))}, len(r.Items), ReadUnits(size, consistent))
	return out, md, err
}
