// Package localtest starts the local AWS parts of package localaws for a
// test and stops them when the test ends. It imports "testing", so only test
// code should import it.
package localtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/efs-cw/backupbridge/internal/dev/localaws"
	"github.com/efs-cw/backupbridge/internal/dev/stackdef"
)

// startTimeout covers a first build of goaws (go tool -n goawsloopback,
// tens of seconds on two cores with a cold build cache) as well as the start
// itself.
const startTimeout = 5 * time.Minute

// SQS starts goaws for the test; goaws's log goes to the test's temporary
// directory and is printed when the test fails.
func SQS(t testing.TB) *localaws.SQSServer {
	t.Helper()
	return SQSWith(t, localaws.SQSOptions{})
}

// SQSWith is SQS with options; an empty opts.Dir becomes t.TempDir().
func SQSWith(t testing.TB, opts localaws.SQSOptions) *localaws.SQSServer {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s, err := localaws.StartSQS(ctx, opts)
	if err != nil {
		t.Fatalf("start goaws: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stop goaws: %v", err)
		}
		if t.Failed() {
			logTail(t, s.LogPath())
		}
	})
	return s
}

// DynamoDB starts minidyn for the test.
func DynamoDB(t testing.TB) *localaws.DynamoServer {
	t.Helper()
	d, err := localaws.StartDynamoDB()
	if err != nil {
		t.Fatalf("start minidyn: %v", err)
	}
	t.Cleanup(d.Close)
	return d
}

// Stack starts goaws and minidyn with the template's tables and queues
// (stackdef.Load), every queue's visibility timeout shortened to 1 second so
// that retries show within a test.
func Stack(t testing.TB) *localaws.Stack {
	t.Helper()
	def, err := stackdef.Load()
	if err != nil {
		t.Fatalf("load template: %v", err)
	}
	vis := make(map[string]int, len(def.Queues))
	for _, q := range def.Queues {
		vis[q.LogicalID] = 1
	}
	return StackWith(t, def, localaws.StackOptions{VisibilityOverride: vis})
}

// StackWith starts def with opts; an empty opts.SQS.Dir becomes t.TempDir().
func StackWith(t testing.TB, def *stackdef.Stack, opts localaws.StackOptions) *localaws.Stack {
	t.Helper()
	if opts.SQS.Dir == "" {
		opts.SQS.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s, err := localaws.StartStack(ctx, def, opts)
	if err != nil {
		t.Fatalf("start local stack: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stop local stack: %v", err)
		}
		if t.Failed() {
			logTail(t, s.SQSServer.LogPath())
		}
	})
	return s
}

// logTail prints the last lines of goaws's log.
func logTail(t testing.TB, path string) {
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	t.Logf("goaws log (%s), last %d lines:\n%s", path, len(lines), strings.Join(lines, "\n"))
}

// Table starts minidyn with the template's table (only DynamoDB, no goaws)
// and returns a client and the table's name.
func Table(t testing.TB) (*dynamodb.Client, string) {
	t.Helper()
	return tableAt(t, DynamoDB(t).Endpoint(), localaws.DefaultPrefix)
}

// tableAt creates the template's tables, named with prefix, on the DynamoDB
// at endpoint, and returns a client and the table's name.
func tableAt(t testing.TB, endpoint, prefix string) (*dynamodb.Client, string) {
	t.Helper()
	ctx := context.Background()
	cfg, err := localaws.AWSConfig(ctx)
	if err != nil {
		t.Fatalf("AWS config: %v", err)
	}
	db := localaws.DynamoClient(cfg, endpoint)
	def, err := stackdef.Load()
	if err != nil {
		t.Fatalf("load template: %v", err)
	}
	names := localaws.DefaultNames(def, prefix)
	if err := localaws.CreateTables(ctx, db, def, names); err != nil {
		t.Fatalf("create tables: %v", err)
	}
	return db, names["Table"]
}

// Backend is one DynamoDB implementation with the template's table.
type Backend struct {
	Name  string // "minidyn" or "moto"
	DB    *dynamodb.Client
	Table string
}

var (
	motoOnce sync.Once
	moto     *localaws.MotoServer
	motoErr  error
	motoSeq  atomic.Int64
)

// MotoTable creates the template's tables, under a name of their own, on
// the moto_server this test binary shares (started on first use; it dies
// with the binary). It skips the test when moto_server is not installed,
// and fails it when moto is installed but does not start.
func MotoTable(t testing.TB) (*dynamodb.Client, string) {
	t.Helper()
	motoOnce.Do(func() { moto, motoErr = localaws.StartMoto(context.Background()) })
	if errors.Is(motoErr, localaws.ErrNoMoto) {
		if os.Getenv("CI") == "true" {
			// CI has moto_server (.ci/run): a store test must not skip it there.
			t.Fatal(motoErr.Error())
		}
		t.Skip(motoErr.Error())
	}
	if motoErr != nil {
		t.Fatal(motoErr)
	}
	return tableAt(t, moto.Endpoint(), fmt.Sprintf("moto-%d-%d", os.Getpid(), motoSeq.Add(1)))
}

// MotoRaces is why a concurrency test runs on minidyn only: moto_server
// serves requests on several threads and does not make a conditional write
// atomic with respect to another (of 16 concurrent conditional claims of one
// key, three succeeded), where DynamoDB and minidyn do.
const MotoRaces = "moto does not apply concurrent conditional writes atomically (several winners of one conditional claim); DynamoDB and minidyn do"

// EachBackend runs f as a subtest on minidyn and, when moto_server is
// installed (it is on the build machines and in CI), on moto: the store
// tests hold both implementations to the same answers.
func EachBackend(t *testing.T, f func(t *testing.T, b Backend)) {
	t.Helper()
	t.Run("minidyn", func(t *testing.T) {
		db, tbl := Table(t)
		f(t, Backend{Name: "minidyn", DB: db, Table: tbl})
	})
	t.Run("moto", func(t *testing.T) {
		db, tbl := MotoTable(t)
		f(t, Backend{Name: "moto", DB: db, Table: tbl})
	})
}
