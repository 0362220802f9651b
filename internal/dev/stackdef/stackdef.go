// Package stackdef reads the application's AWS SAM template (template.yaml,
// embedded in package backupbridge) into Go values: the DynamoDB tables and
// SQS queues the local stack creates, the functions with SAM's Globals
// applied, the alarms, and every resource with its intrinsic functions
// (!Ref, !GetAtt, !Sub, !If, ...) kept as written.
//
// It walks gopkg.in/yaml.v3 nodes rather than using goformation, which on a
// SAM template neither applies Globals nor keeps !Ref/!GetAtt targets; here
// "this property points at resource X" stays checkable (Value.Target,
// Value.References).
//
// Parse checks what the local stack relies on and fails rather than guess: a
// table's key attributes must be defined (and every defined attribute used by
// a key, as CloudFormation requires), a queue's dead-letter target must be a
// queue of the same template. Typed views (Tables, Queues, Functions, Alarms)
// are sorted by logical id.
package stackdef

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/efs-cw/backupbridge"
)

// Resource types read into typed views.
const (
	TypeTable    = "AWS::DynamoDB::Table"
	TypeQueue    = "AWS::SQS::Queue"
	TypeFunction = "AWS::Serverless::Function"
	TypeAlarm    = "AWS::CloudWatch::Alarm"
)

// Defaults that AWS applies when the template leaves a property out.
const (
	// DefaultVisibilityTimeout is SQS's visibility timeout, in seconds.
	DefaultVisibilityTimeout = 30
	// DefaultMessageRetentionPeriod is SQS's retention period (4 days), in seconds.
	DefaultMessageRetentionPeriod = 345600
	// DefaultFunctionTimeout is Lambda's (and SAM's) function timeout, in seconds.
	DefaultFunctionTimeout = 3
	// DefaultMemorySize is Lambda's memory size, in MB.
	DefaultMemorySize = 128
)

// pseudoParameters are the names CloudFormation defines in every template.
var pseudoParameters = map[string]bool{
	"AWS::AccountId":        true,
	"AWS::NotificationARNs": true,
	"AWS::NoValue":          true,
	"AWS::Partition":        true,
	"AWS::Region":           true,
	"AWS::StackId":          true,
	"AWS::StackName":        true,
	"AWS::URLSuffix":        true,
}

// IsPseudoParameter reports whether name is a CloudFormation pseudo parameter
// such as AWS::Region.
func IsPseudoParameter(name string) bool { return pseudoParameters[name] }

// topLevelSections are the sections a (SAM) template may have.
var topLevelSections = map[string]bool{
	"AWSTemplateFormatVersion": true,
	"Transform":                true,
	"Description":              true,
	"Metadata":                 true,
	"Parameters":               true,
	"Rules":                    true,
	"Mappings":                 true,
	"Conditions":               true,
	"Globals":                  true,
	"Resources":                true,
	"Outputs":                  true,
}

// Stack is a parsed template.
type Stack struct {
	Description string
	// Transform lists the template's transforms (AWS::Serverless-2016-10-31).
	Transform  []string
	Parameters map[string]Parameter
	// Conditions maps each condition name to its expression.
	Conditions map[string]Value
	// Globals is the SAM Globals section as written (Function, HttpApi, ...);
	// Functions already have Globals.Function applied.
	Globals   Value
	Resources map[string]Resource
	Outputs   map[string]Output

	Tables    []Table
	Queues    []Queue
	Functions []Function
	Alarms    []Alarm

	// root is the whole template, for References.
	root Value
}

// Parameter is one template parameter.
type Parameter struct {
	Name          string
	Type          string
	Default       string
	HasDefault    bool
	AllowedValues []string
	Description   string
}

// Resource is one entry of the Resources section.
type Resource struct {
	LogicalID           string
	Type                string
	Condition           string
	DependsOn           []string
	DeletionPolicy      string
	UpdateReplacePolicy string
	Metadata            Value
	// Properties as written (for functions without Globals; see Function).
	Properties Value
	// Raw is the whole resource entry.
	Raw Value
}

// Output is one entry of the Outputs section.
type Output struct {
	Name        string
	Description string
	Value       Value
	Condition   string
}

// Table is an AWS::DynamoDB::Table, with what it takes to create it.
type Table struct {
	LogicalID string
	// TableName is the literal TableName, or "" when CloudFormation names it.
	TableName string
	// BillingMode is PAY_PER_REQUEST or PROVISIONED (CloudFormation's default).
	BillingMode string
	KeySchema   KeySchema
	Attributes  []AttributeDefinition
	GSIs        []GSI
	// TTLAttribute is the time-to-live attribute, "" when TTL is not enabled.
	TTLAttribute string
	// PITR reports point-in-time recovery; SSE server-side encryption
	// explicitly enabled (SSESpecification.SSEEnabled).
	PITR           bool
	SSE            bool
	StreamViewType string
	DeletionPolicy string
}

// KeySchema is a table's or an index's key: the HASH element, then the
// optional RANGE element.
type KeySchema []KeyElement

// Hash returns the partition (HASH) key attribute.
func (k KeySchema) Hash() string { return k.name("HASH") }

// Range returns the sort (RANGE) key attribute, "" when there is none.
func (k KeySchema) Range() string { return k.name("RANGE") }

func (k KeySchema) name(keyType string) string {
	for _, e := range k {
		if e.KeyType == keyType {
			return e.Name
		}
	}
	return ""
}

// KeyElement is one element of a key schema.
type KeyElement struct {
	Name    string
	KeyType string // HASH or RANGE
}

// AttributeDefinition is a key attribute and its scalar type.
type AttributeDefinition struct {
	Name string
	Type string // S, N or B
}

// GSI is a global secondary index.
type GSI struct {
	Name           string
	KeySchema      KeySchema
	ProjectionType string // ALL, KEYS_ONLY or INCLUDE
	// NonKeyAttributes are the projected attributes of an INCLUDE projection.
	NonKeyAttributes []string
}

// AttributeType returns the type (S, N or B) of a defined attribute, "" when
// the attribute is not defined.
func (t Table) AttributeType(name string) string {
	for _, a := range t.Attributes {
		if a.Name == name {
			return a.Type
		}
	}
	return ""
}

// GSI returns the global secondary index called name.
func (t Table) GSI(name string) (GSI, bool) {
	for _, g := range t.GSIs {
		if g.Name == name {
			return g, true
		}
	}
	return GSI{}, false
}

// Queue is an AWS::SQS::Queue, with AWS's defaults for what the template
// leaves out.
type Queue struct {
	LogicalID string
	// QueueName is the literal QueueName, or "" when CloudFormation names it.
	QueueName                     string
	FIFO                          bool
	VisibilityTimeout             int // seconds
	MessageRetentionPeriod        int // seconds
	DelaySeconds                  int
	ReceiveMessageWaitTimeSeconds int
	// SSE reports SqsManagedSseEnabled or a KmsMasterKeyId.
	SSE bool
	// DeadLetterTarget is the logical id of the dead-letter queue when the
	// redrive policy says !GetAtt <id>.Arn; DeadLetterTargetArn holds a
	// literal ARN instead (a queue outside the template).
	DeadLetterTarget    string
	DeadLetterTargetArn string
	MaxReceiveCount     int
}

// HasDeadLetterQueue reports whether the queue has a redrive policy.
func (q Queue) HasDeadLetterQueue() bool {
	return q.DeadLetterTarget != "" || q.DeadLetterTargetArn != ""
}

// Function is an AWS::Serverless::Function with Globals.Function applied the
// way SAM applies them (maps merged, lists appended to, scalars overridden).
type Function struct {
	LogicalID     string
	Handler       string
	Runtime       string
	Architectures []string
	MemorySize    int // MB
	Timeout       int // seconds
	Tracing       string
	// CodeURI is the literal CodeUri.
	CodeURI string
	// BuildMethod is the resource's Metadata.BuildMethod (makefile, go1.x, ...).
	BuildMethod string
	Env         map[string]Value
	Events      map[string]Event
	// Policies is the Policies property as a list: managed policy names, SAM
	// policy templates and inline policy documents, as written.
	Policies []Value
	// Statements are the statements of the inline policy documents.
	Statements []Statement
	// LogFormat and LogGroup come from LoggingConfig.
	LogFormat string
	LogGroup  Value
	// Properties holds every property, Globals applied.
	Properties Value
}

// Event is one entry of a function's Events.
type Event struct {
	Name       string
	Type       string // HttpApi, SQS, Schedule, ScheduleV2, ...
	Properties Value
}

// Statement is one IAM policy statement.
type Statement struct {
	Sid          string
	Effect       string
	Actions      []string
	NotActions   []string
	Resources    []Value
	NotResources []Value
	Condition    Value
	Line         int
}

// Alarm is an AWS::CloudWatch::Alarm.
type Alarm struct {
	LogicalID   string
	Description string
	// Namespace and MetricName are Values: a namespace is often !Ref'd.
	Namespace               Value
	MetricName              Value
	Dimensions              map[string]Value
	Statistic               string
	ExtendedStatistic       string
	Period                  int
	EvaluationPeriods       int
	DatapointsToAlarm       int
	Threshold               float64
	ComparisonOperator      string
	TreatMissingData        string
	AlarmActions            []Value
	OKActions               []Value
	InsufficientDataActions []Value
	// Actions is AlarmActions, OKActions and InsufficientDataActions together.
	Actions []Value
	// MetricMath reports an alarm on Metrics (metric math) rather than on
	// one metric; Namespace, MetricName and Dimensions are then empty.
	MetricMath bool
}

// Load parses the template embedded in package backupbridge: the very
// template.yaml that is deployed.
func Load() (*Stack, error) {
	s, err := Parse(backupbridge.Template)
	if err != nil {
		return nil, fmt.Errorf("embedded template.yaml: %w", err)
	}
	return s, nil
}

// Parse parses a CloudFormation or SAM template in YAML (JSON is YAML too).
func Parse(yamlBytes []byte) (*Stack, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(yamlBytes, &doc); err != nil {
		return nil, fmt.Errorf("stackdef: parse template: %w", err)
	}
	root, err := fromNode(&doc)
	if err != nil {
		return nil, fmt.Errorf("stackdef: parse template: %w", err)
	}
	if root.Kind != Mapping || root.Tag != "" {
		return nil, errors.New("stackdef: the template is not a mapping of sections")
	}
	for _, k := range root.Keys {
		if !topLevelSections[k] {
			return nil, fmt.Errorf("stackdef: line %d: unknown top-level section %q", root.Map[k].Line, k)
		}
	}
	s := &Stack{
		Parameters: map[string]Parameter{},
		Conditions: map[string]Value{},
		Resources:  map[string]Resource{},
		Outputs:    map[string]Output{},
		Globals:    root.Get("Globals"),
		root:       root,
	}
	s.Description, _ = root.Get("Description").Literal()
	for _, t := range root.Get("Transform").Items() {
		if name, ok := t.Literal(); ok {
			s.Transform = append(s.Transform, name)
		}
	}

	var errs []error
	params := root.Get("Parameters")
	for _, name := range params.Keys {
		p, err := parseParameter(name, params.Map[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Parameters[name] = p
	}
	conds := root.Get("Conditions")
	for _, name := range conds.Keys {
		s.Conditions[name] = conds.Map[name]
	}

	resources := root.Get("Resources")
	if resources.Kind != Mapping || len(resources.Keys) == 0 {
		return nil, errors.New("stackdef: the template has no Resources")
	}
	for _, id := range resources.Keys {
		r, err := parseResource(id, resources.Map[id])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, clash := s.Parameters[id]; clash {
			errs = append(errs, fmt.Errorf("stackdef: %s is both a parameter and a resource", id))
		}
		s.Resources[id] = r
	}
	outputs := root.Get("Outputs")
	for _, name := range outputs.Keys {
		o := outputs.Map[name]
		out := Output{Name: name, Value: o.Get("Value")}
		out.Description, _ = o.Get("Description").Literal()
		out.Condition, _ = o.Get("Condition").Literal()
		s.Outputs[name] = out
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	fnGlobals := s.Globals.Get("Function")
	if !fnGlobals.IsZero() && (fnGlobals.Kind != Mapping || fnGlobals.Tag != "") {
		return nil, fmt.Errorf("stackdef: line %d: Globals.Function is not a mapping", fnGlobals.Line)
	}
	for _, id := range sortedKeys(s.Resources) {
		r := s.Resources[id]
		var err error
		switch r.Type {
		case TypeTable:
			var t Table
			if t, err = s.parseTable(r); err == nil {
				s.Tables = append(s.Tables, t)
			}
		case TypeQueue:
			var q Queue
			if q, err = s.parseQueue(r); err == nil {
				s.Queues = append(s.Queues, q)
			}
		case TypeFunction:
			var f Function
			if f, err = s.parseFunction(r, fnGlobals); err == nil {
				s.Functions = append(s.Functions, f)
			}
		case TypeAlarm:
			var a Alarm
			if a, err = s.parseAlarm(r); err == nil {
				s.Alarms = append(s.Alarms, a)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("stackdef: resource %s (%s): %w", id, r.Type, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func parseParameter(name string, v Value) (Parameter, error) {
	p := Parameter{Name: name}
	var ok bool
	if p.Type, ok = v.Get("Type").Literal(); !ok {
		return p, fmt.Errorf("stackdef: parameter %s: no Type", name)
	}
	if d := v.Get("Default"); !d.IsZero() {
		if p.Default, ok = d.Literal(); !ok {
			return p, fmt.Errorf("stackdef: parameter %s: Default is not a literal", name)
		}
		p.HasDefault = true
	}
	for _, a := range v.Get("AllowedValues").Items() {
		if s, ok := a.Literal(); ok {
			p.AllowedValues = append(p.AllowedValues, s)
		}
	}
	p.Description, _ = v.Get("Description").Literal()
	return p, nil
}

func parseResource(id string, v Value) (Resource, error) {
	r := Resource{LogicalID: id, Raw: v}
	if v.Kind != Mapping || v.Tag != "" {
		return r, fmt.Errorf("stackdef: resource %s: not a mapping", id)
	}
	var ok bool
	if r.Type, ok = v.Get("Type").Literal(); !ok || r.Type == "" {
		return r, fmt.Errorf("stackdef: resource %s: no Type", id)
	}
	r.Condition, _ = v.Get("Condition").Literal()
	for _, d := range v.Get("DependsOn").Items() {
		if s, ok := d.Literal(); ok {
			r.DependsOn = append(r.DependsOn, s)
		}
	}
	r.DeletionPolicy, _ = v.Get("DeletionPolicy").Literal()
	r.UpdateReplacePolicy, _ = v.Get("UpdateReplacePolicy").Literal()
	r.Metadata = v.Get("Metadata")
	r.Properties = v.Get("Properties")
	return r, nil
}

// Resource returns the resource with the given logical id.
func (s *Stack) Resource(id string) (Resource, bool) {
	r, ok := s.Resources[id]
	return r, ok
}

// ResourcesOfType returns the resources of one type, sorted by logical id.
func (s *Stack) ResourcesOfType(typ string) []Resource {
	var out []Resource
	for _, id := range sortedKeys(s.Resources) {
		if r := s.Resources[id]; r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// Table returns the table with the given logical id.
func (s *Stack) Table(id string) (Table, bool) {
	return find(s.Tables, id, func(t Table) string { return t.LogicalID })
}

// Queue returns the queue with the given logical id.
func (s *Stack) Queue(id string) (Queue, bool) {
	return find(s.Queues, id, func(q Queue) string { return q.LogicalID })
}

// Function returns the function with the given logical id.
func (s *Stack) Function(id string) (Function, bool) {
	return find(s.Functions, id, func(f Function) string { return f.LogicalID })
}

// Alarm returns the alarm with the given logical id.
func (s *Stack) Alarm(id string) (Alarm, bool) {
	return find(s.Alarms, id, func(a Alarm) string { return a.LogicalID })
}

func find[T any](list []T, id string, idOf func(T) string) (T, bool) {
	i := slices.IndexFunc(list, func(x T) bool { return idOf(x) == id })
	if i < 0 {
		var zero T
		return zero, false
	}
	return list[i], true
}

// Defines reports whether name can be the target of a !Ref: a parameter, a
// resource or a pseudo parameter of this template. (SAM's generated
// resources, such as <Function>Role, are not counted.)
func (s *Stack) Defines(name string) bool {
	if IsPseudoParameter(name) {
		return true
	}
	_, isParam := s.Parameters[name]
	_, isResource := s.Resources[name]
	return isParam || isResource
}

// References returns every reference in the template (conditions, Globals,
// resources, outputs), in template order.
func (s *Stack) References() []Reference {
	var refs []Reference
	for _, section := range []string{"Conditions", "Globals", "Resources", "Outputs"} {
		refs = append(refs, s.root.Get(section).References()...)
	}
	return refs
}

// Resolve returns the literal a value stands for when it is a plain scalar or
// a !Ref of a parameter that has a default (the value the stack gets unless
// the deployment overrides it).
func (s *Stack) Resolve(v Value) (string, bool) {
	if lit, ok := v.Literal(); ok {
		return lit, true
	}
	if v.Tag == "!Ref" && v.Kind == Scalar {
		if p, ok := s.Parameters[v.Scalar]; ok && p.HasDefault {
			return p.Default, true
		}
	}
	return "", false
}

// resolveString resolves v (see Resolve); an absent v gives def.
func (s *Stack) resolveString(v Value, what, def string) (string, error) {
	if v.IsZero() {
		return def, nil
	}
	lit, ok := s.Resolve(v)
	if !ok {
		return "", fmt.Errorf("line %d: %s: cannot resolve %s to a literal", v.Line, what, v)
	}
	return lit, nil
}

// resolveInt resolves v (see Resolve) to an integer; an absent v gives def.
func (s *Stack) resolveInt(v Value, what string, def int) (int, error) {
	if v.IsZero() {
		return def, nil
	}
	lit, ok := s.Resolve(v)
	if !ok {
		return 0, fmt.Errorf("line %d: %s: cannot resolve %s to an integer", v.Line, what, v)
	}
	n, err := Value{Kind: Scalar, Scalar: lit, Line: v.Line}.Int()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return n, nil
}

// resolveBool resolves v (see Resolve) to a boolean; an absent v gives false.
func (s *Stack) resolveBool(v Value, what string) (bool, error) {
	if v.IsZero() {
		return false, nil
	}
	lit, ok := s.Resolve(v)
	if !ok {
		return false, fmt.Errorf("line %d: %s: cannot resolve %s to a boolean", v.Line, what, v)
	}
	b, err := Value{Kind: Scalar, Scalar: lit, Line: v.Line}.Bool()
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return b, nil
}

func (s *Stack) parseTable(r Resource) (Table, error) {
	p := r.Properties
	t := Table{LogicalID: r.LogicalID, DeletionPolicy: r.DeletionPolicy}
	var err error
	if !p.Get("TableName").IsZero() {
		if t.TableName, err = s.resolveString(p.Get("TableName"), "TableName", ""); err != nil {
			return t, err
		}
	}
	if t.BillingMode, err = s.resolveString(p.Get("BillingMode"), "BillingMode", "PROVISIONED"); err != nil {
		return t, err
	}
	if !p.Get("LocalSecondaryIndexes").IsZero() {
		return t, errors.New("LocalSecondaryIndexes are not supported by stackdef")
	}
	for _, a := range p.Get("AttributeDefinitions").Items() {
		var def AttributeDefinition
		if def.Name, err = s.resolveString(a.Get("AttributeName"), "AttributeDefinitions.AttributeName", ""); err != nil {
			return t, err
		}
		if def.Type, err = s.resolveString(a.Get("AttributeType"), "AttributeDefinitions.AttributeType", ""); err != nil {
			return t, err
		}
		if def.Name == "" {
			return t, fmt.Errorf("line %d: attribute definition without AttributeName", a.Line)
		}
		if def.Type != "S" && def.Type != "N" && def.Type != "B" {
			return t, fmt.Errorf("line %d: attribute %s: AttributeType %q is not S, N or B", a.Line, def.Name, def.Type)
		}
		if t.AttributeType(def.Name) != "" {
			return t, fmt.Errorf("line %d: attribute %s defined twice", a.Line, def.Name)
		}
		t.Attributes = append(t.Attributes, def)
	}
	if t.KeySchema, err = s.parseKeySchema(p.Get("KeySchema"), "KeySchema"); err != nil {
		return t, err
	}
	used := map[string]bool{}
	for _, k := range t.KeySchema {
		used[k.Name] = true
	}
	for _, g := range p.Get("GlobalSecondaryIndexes").Items() {
		var gsi GSI
		if gsi.Name, err = s.resolveString(g.Get("IndexName"), "IndexName", ""); err != nil {
			return t, err
		}
		if gsi.Name == "" {
			return t, fmt.Errorf("line %d: global secondary index without IndexName", g.Line)
		}
		if _, dup := t.GSI(gsi.Name); dup {
			return t, fmt.Errorf("line %d: index %s defined twice", g.Line, gsi.Name)
		}
		what := "index " + gsi.Name
		if gsi.KeySchema, err = s.parseKeySchema(g.Get("KeySchema"), what+" KeySchema"); err != nil {
			return t, err
		}
		if gsi.ProjectionType, err = s.resolveString(g.Get("Projection", "ProjectionType"), what+" ProjectionType", ""); err != nil {
			return t, err
		}
		switch gsi.ProjectionType {
		case "ALL", "KEYS_ONLY", "INCLUDE":
		default:
			return t, fmt.Errorf("line %d: %s: ProjectionType %q is not ALL, KEYS_ONLY or INCLUDE", g.Line, what, gsi.ProjectionType)
		}
		for _, a := range g.Get("Projection", "NonKeyAttributes").Items() {
			name, err := s.resolveString(a, what+" NonKeyAttributes", "")
			if err != nil {
				return t, err
			}
			gsi.NonKeyAttributes = append(gsi.NonKeyAttributes, name)
		}
		for _, k := range gsi.KeySchema {
			used[k.Name] = true
		}
		t.GSIs = append(t.GSIs, gsi)
	}
	for name := range used {
		if t.AttributeType(name) == "" {
			return t, fmt.Errorf("key attribute %s is not in AttributeDefinitions", name)
		}
	}
	for _, a := range t.Attributes {
		if !used[a.Name] {
			return t, fmt.Errorf("attribute %s is defined but is no key of the table or an index (CloudFormation rejects that)", a.Name)
		}
	}
	if ttl := p.Get("TimeToLiveSpecification"); !ttl.IsZero() {
		on, err := s.resolveBool(ttl.Get("Enabled"), "TimeToLiveSpecification.Enabled")
		if err != nil {
			return t, err
		}
		if on {
			if t.TTLAttribute, err = s.resolveString(ttl.Get("AttributeName"), "TimeToLiveSpecification.AttributeName", ""); err != nil {
				return t, err
			}
			if t.TTLAttribute == "" {
				return t, errors.New("TimeToLiveSpecification enabled without AttributeName")
			}
		}
	}
	if t.PITR, err = s.resolveBool(p.Get("PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"), "PointInTimeRecoveryEnabled"); err != nil {
		return t, err
	}
	if t.SSE, err = s.resolveBool(p.Get("SSESpecification", "SSEEnabled"), "SSESpecification.SSEEnabled"); err != nil {
		return t, err
	}
	if t.StreamViewType, err = s.resolveString(p.Get("StreamSpecification", "StreamViewType"), "StreamViewType", ""); err != nil {
		return t, err
	}
	return t, nil
}

func (s *Stack) parseKeySchema(v Value, what string) (KeySchema, error) {
	items := v.Items()
	if len(items) == 0 || len(items) > 2 {
		return nil, fmt.Errorf("line %d: %s: want 1 or 2 key elements, got %d", v.Line, what, len(items))
	}
	var ks KeySchema
	for i, e := range items {
		var k KeyElement
		var err error
		if k.Name, err = s.resolveString(e.Get("AttributeName"), what+" AttributeName", ""); err != nil {
			return nil, err
		}
		if k.KeyType, err = s.resolveString(e.Get("KeyType"), what+" KeyType", ""); err != nil {
			return nil, err
		}
		want := "HASH"
		if i == 1 {
			want = "RANGE"
		}
		if k.KeyType != want || k.Name == "" {
			return nil, fmt.Errorf("line %d: %s: element %d must be a %s key with an AttributeName, got %q %q", e.Line, what, i, want, k.Name, k.KeyType)
		}
		ks = append(ks, k)
	}
	return ks, nil
}

func (s *Stack) parseQueue(r Resource) (Queue, error) {
	p := r.Properties
	q := Queue{LogicalID: r.LogicalID}
	var err error
	if q.QueueName, err = s.resolveString(p.Get("QueueName"), "QueueName", ""); err != nil {
		return q, err
	}
	if q.FIFO, err = s.resolveBool(p.Get("FifoQueue"), "FifoQueue"); err != nil {
		return q, err
	}
	if q.VisibilityTimeout, err = s.resolveInt(p.Get("VisibilityTimeout"), "VisibilityTimeout", DefaultVisibilityTimeout); err != nil {
		return q, err
	}
	if q.MessageRetentionPeriod, err = s.resolveInt(p.Get("MessageRetentionPeriod"), "MessageRetentionPeriod", DefaultMessageRetentionPeriod); err != nil {
		return q, err
	}
	if q.DelaySeconds, err = s.resolveInt(p.Get("DelaySeconds"), "DelaySeconds", 0); err != nil {
		return q, err
	}
	if q.ReceiveMessageWaitTimeSeconds, err = s.resolveInt(p.Get("ReceiveMessageWaitTimeSeconds"), "ReceiveMessageWaitTimeSeconds", 0); err != nil {
		return q, err
	}
	if q.SSE, err = s.resolveBool(p.Get("SqsManagedSseEnabled"), "SqsManagedSseEnabled"); err != nil {
		return q, err
	}
	if !p.Get("KmsMasterKeyId").IsZero() {
		q.SSE = true
	}
	rp := p.Get("RedrivePolicy")
	if rp.IsZero() {
		return q, nil
	}
	if lit, ok := rp.Literal(); ok {
		// The JSON-string form: {"deadLetterTargetArn": "...", "maxReceiveCount": 5}.
		var j struct {
			Arn   string          `json:"deadLetterTargetArn"`
			Count json.RawMessage `json:"maxReceiveCount"`
		}
		if err := json.Unmarshal([]byte(lit), &j); err != nil {
			return q, fmt.Errorf("line %d: RedrivePolicy: %w", rp.Line, err)
		}
		q.DeadLetterTargetArn = j.Arn
		rp = Value{Kind: Mapping, Map: map[string]Value{
			"maxReceiveCount": {Kind: Scalar, Scalar: strings.Trim(string(j.Count), `"`), Line: rp.Line},
		}, Keys: []string{"maxReceiveCount"}, Line: rp.Line}
	} else if rp.Kind != Mapping || rp.Tag != "" {
		return q, fmt.Errorf("line %d: RedrivePolicy %s is neither a mapping nor a JSON string", rp.Line, rp)
	} else {
		target := rp.Get("deadLetterTargetArn")
		switch {
		case target.Tag == "!GetAtt" && target.Attribute() == "Arn":
			q.DeadLetterTarget = target.Target()
		default:
			if q.DeadLetterTargetArn, err = s.resolveString(target, "deadLetterTargetArn", ""); err != nil {
				return q, err
			}
		}
	}
	if !q.HasDeadLetterQueue() {
		return q, fmt.Errorf("line %d: RedrivePolicy without deadLetterTargetArn", rp.Line)
	}
	if q.DeadLetterTarget != "" {
		dlq, ok := s.Resources[q.DeadLetterTarget]
		if !ok || dlq.Type != TypeQueue {
			return q, fmt.Errorf("line %d: RedrivePolicy: dead-letter target %s is not an %s of this template", rp.Line, q.DeadLetterTarget, TypeQueue)
		}
		if q.DeadLetterTarget == q.LogicalID {
			return q, fmt.Errorf("line %d: RedrivePolicy: the queue is its own dead-letter queue", rp.Line)
		}
	}
	if q.MaxReceiveCount, err = s.resolveInt(rp.Get("maxReceiveCount"), "maxReceiveCount", 0); err != nil {
		return q, err
	}
	if q.MaxReceiveCount < 1 {
		return q, fmt.Errorf("line %d: RedrivePolicy: maxReceiveCount must be at least 1", rp.Line)
	}
	return q, nil
}

func (s *Stack) parseFunction(r Resource, globals Value) (Function, error) {
	p := mergeGlobals(globals, r.Properties)
	f := Function{LogicalID: r.LogicalID, Properties: p}
	var err error
	// Handler, Runtime and Tracing stay "" when they are intrinsics that do
	// not resolve (an !If, say); Properties keeps them as written.
	f.Handler, _ = s.Resolve(p.Get("Handler"))
	f.Runtime, _ = s.Resolve(p.Get("Runtime"))
	for _, a := range p.Get("Architectures").Items() {
		arch, err := s.resolveString(a, "Architectures", "")
		if err != nil {
			return f, err
		}
		f.Architectures = append(f.Architectures, arch)
	}
	if f.MemorySize, err = s.resolveInt(p.Get("MemorySize"), "MemorySize", DefaultMemorySize); err != nil {
		return f, err
	}
	if f.Timeout, err = s.resolveInt(p.Get("Timeout"), "Timeout", DefaultFunctionTimeout); err != nil {
		return f, err
	}
	f.Tracing, _ = s.Resolve(p.Get("Tracing"))
	f.CodeURI, _ = p.Get("CodeUri").Literal()
	f.BuildMethod, _ = r.Metadata.Get("BuildMethod").Literal()
	f.LogFormat, _ = p.Get("LoggingConfig", "LogFormat").Literal()
	f.LogGroup = p.Get("LoggingConfig", "LogGroup")

	f.Env = map[string]Value{}
	vars := p.Get("Environment", "Variables")
	for _, k := range vars.Keys {
		f.Env[k] = vars.Map[k]
	}
	f.Events = map[string]Event{}
	events := p.Get("Events")
	for _, name := range events.Keys {
		e := events.Map[name]
		typ, ok := e.Get("Type").Literal()
		if !ok {
			return f, fmt.Errorf("line %d: event %s has no Type", e.Line, name)
		}
		f.Events[name] = Event{Name: name, Type: typ, Properties: e.Get("Properties")}
	}
	pol := p.Get("Policies")
	if pol.Kind == Mapping && pol.Tag == "" && !pol.Get("Statement").IsZero() {
		f.Policies = []Value{pol} // one inline document
	} else {
		f.Policies = pol.Items()
	}
	for _, doc := range f.Policies {
		if doc.Kind != Mapping || doc.Tag != "" || doc.Get("Statement").IsZero() {
			continue
		}
		st, err := ParseStatements(doc)
		if err != nil {
			return f, err
		}
		f.Statements = append(f.Statements, st...)
	}
	return f, nil
}

// ParseStatements reads the statements of an IAM policy document (a mapping
// with a Statement key holding one statement or a list of them).
func ParseStatements(doc Value) ([]Statement, error) {
	var out []Statement
	for _, sv := range doc.Get("Statement").Items() {
		if sv.Kind != Mapping || sv.Tag != "" {
			return nil, fmt.Errorf("line %d: policy statement %s is not a mapping", sv.Line, sv)
		}
		st := Statement{Line: sv.Line, Condition: sv.Get("Condition")}
		st.Sid, _ = sv.Get("Sid").Literal()
		st.Effect, _ = sv.Get("Effect").Literal()
		for _, key := range []string{"Action", "NotAction"} {
			for _, a := range sv.Get(key).Items() {
				name, ok := a.Literal()
				if !ok {
					return nil, fmt.Errorf("line %d: %s %s is not a literal", a.Line, key, a)
				}
				if key == "Action" {
					st.Actions = append(st.Actions, name)
				} else {
					st.NotActions = append(st.NotActions, name)
				}
			}
		}
		st.Resources = sv.Get("Resource").Items()
		st.NotResources = sv.Get("NotResource").Items()
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return nil, fmt.Errorf("line %d: policy statement Effect %q is not Allow or Deny", sv.Line, st.Effect)
		}
		out = append(out, st)
	}
	return out, nil
}

func (s *Stack) parseAlarm(r Resource) (Alarm, error) {
	p := r.Properties
	a := Alarm{
		LogicalID:               r.LogicalID,
		Namespace:               p.Get("Namespace"),
		MetricName:              p.Get("MetricName"),
		Dimensions:              map[string]Value{},
		AlarmActions:            p.Get("AlarmActions").Items(),
		OKActions:               p.Get("OKActions").Items(),
		InsufficientDataActions: p.Get("InsufficientDataActions").Items(),
		MetricMath:              !p.Get("Metrics").IsZero(),
	}
	a.Actions = slices.Concat(a.AlarmActions, a.OKActions, a.InsufficientDataActions)
	a.Description, _ = p.Get("AlarmDescription").Literal()
	a.Statistic, _ = p.Get("Statistic").Literal()
	a.ExtendedStatistic, _ = p.Get("ExtendedStatistic").Literal()
	a.ComparisonOperator, _ = p.Get("ComparisonOperator").Literal()
	a.TreatMissingData, _ = p.Get("TreatMissingData").Literal()
	for _, d := range p.Get("Dimensions").Items() {
		name, ok := d.Get("Name").Literal()
		if !ok || name == "" {
			return a, fmt.Errorf("line %d: dimension without a literal Name", d.Line)
		}
		if _, dup := a.Dimensions[name]; dup {
			return a, fmt.Errorf("line %d: dimension %s given twice", d.Line, name)
		}
		a.Dimensions[name] = d.Get("Value")
	}
	var err error
	if a.Period, err = s.resolveInt(p.Get("Period"), "Period", 0); err != nil {
		return a, err
	}
	if a.EvaluationPeriods, err = s.resolveInt(p.Get("EvaluationPeriods"), "EvaluationPeriods", 0); err != nil {
		return a, err
	}
	if a.DatapointsToAlarm, err = s.resolveInt(p.Get("DatapointsToAlarm"), "DatapointsToAlarm", a.EvaluationPeriods); err != nil {
		return a, err
	}
	if th := p.Get("Threshold"); !th.IsZero() {
		lit, ok := s.Resolve(th)
		if !ok {
			return a, fmt.Errorf("line %d: Threshold %s is not a literal", th.Line, th)
		}
		if a.Threshold, err = (Value{Kind: Scalar, Scalar: lit, Line: th.Line}).Float(); err != nil {
			return a, fmt.Errorf("threshold: %w", err)
		}
	}
	return a, nil
}
