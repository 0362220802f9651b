package stackdef

import (
	"reflect"
	"strings"
	"testing"
)

// mustParse parses an inline template or fails the test.
func mustParse(t *testing.T, src string) *Stack {
	t.Helper()
	s, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return s
}

const tableTemplate = `
Resources:
  Store:
    Type: AWS::DynamoDB::Table
    DeletionPolicy: Retain
    Properties:
      TableName: store
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
        - {AttributeName: g1, AttributeType: N}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: byG1
          KeySchema:
            - {AttributeName: g1, KeyType: HASH}
          Projection:
            ProjectionType: INCLUDE
            NonKeyAttributes: [name]
      TimeToLiveSpecification: {AttributeName: expiresAt, Enabled: true}
      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}
      SSESpecification: {SSEEnabled: true}
      StreamSpecification: {StreamViewType: NEW_IMAGE}
`

func TestParseTableIsExact(t *testing.T) {
	t.Parallel()
	s := mustParse(t, tableTemplate)
	want := Table{
		LogicalID:   "Store",
		TableName:   "store",
		BillingMode: "PAY_PER_REQUEST",
		KeySchema:   KeySchema{{"pk", "HASH"}, {"sk", "RANGE"}},
		Attributes:  []AttributeDefinition{{"pk", "S"}, {"sk", "S"}, {"g1", "N"}},
		GSIs: []GSI{{
			Name:             "byG1",
			KeySchema:        KeySchema{{"g1", "HASH"}},
			ProjectionType:   "INCLUDE",
			NonKeyAttributes: []string{"name"},
		}},
		TTLAttribute:   "expiresAt",
		PITR:           true,
		SSE:            true,
		StreamViewType: "NEW_IMAGE",
		DeletionPolicy: "Retain",
	}
	if len(s.Tables) != 1 || !reflect.DeepEqual(s.Tables[0], want) {
		t.Fatalf("Tables =\n%+v\nwant\n%+v", s.Tables, want)
	}
	tb := s.Tables[0]
	if tb.KeySchema.Hash() != "pk" || tb.KeySchema.Range() != "sk" || tb.GSIs[0].KeySchema.Range() != "" {
		t.Errorf("Hash/Range wrong: %q %q %q", tb.KeySchema.Hash(), tb.KeySchema.Range(), tb.GSIs[0].KeySchema.Range())
	}
	if tb.AttributeType("g1") != "N" || tb.AttributeType("nope") != "" {
		t.Error("AttributeType wrong")
	}
	if _, ok := tb.GSI("byG1"); !ok {
		t.Error("GSI(byG1) not found")
	}
	if _, ok := s.Table("Store"); !ok {
		t.Error("Stack.Table(Store) not found")
	}
}

func TestParseTableDefaultsAndDisabledTTL(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `
Parameters:
  KeyName: {Type: String, Default: id}
Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: !Ref KeyName, AttributeType: S}]
      KeySchema: [{AttributeName: !Ref KeyName, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: false}
`)
	tb := s.Tables[0]
	if tb.BillingMode != "PROVISIONED" || tb.TTLAttribute != "" || tb.PITR || tb.KeySchema.Hash() != "id" {
		t.Errorf("got %+v; want PROVISIONED, no TTL, no PITR, hash key id (the parameter's default)", tb)
	}
}

func TestParseTableRejects(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"undefined key attribute": `
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: sk, KeyType: RANGE}]`,
		"unused attribute": `
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}, {AttributeName: extra, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]`,
		"range first": `
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: RANGE}]`,
		"bad attribute type": `
      AttributeDefinitions: [{AttributeName: pk, AttributeType: BOOL}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]`,
		"no key schema": `
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]`,
		"unresolvable key": `
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: !GetAtt X.Name, KeyType: HASH}]`,
		"local secondary index": `
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      LocalSecondaryIndexes: []`,
		"index without projection": `
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}, {AttributeName: g, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes: [{IndexName: i, KeySchema: [{AttributeName: g, KeyType: HASH}]}]`,
		"index twice": `
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}, {AttributeName: g, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - {IndexName: i, KeySchema: [{AttributeName: g, KeyType: HASH}], Projection: {ProjectionType: ALL}}
        - {IndexName: i, KeySchema: [{AttributeName: g, KeyType: HASH}], Projection: {ProjectionType: ALL}}`,
		"TTL without attribute": `
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      TimeToLiveSpecification: {Enabled: true}`,
	}
	for name, props := range tests {
		src := "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:" + props + "\n"
		if _, err := Parse([]byte(src)); err == nil {
			t.Errorf("%s: Parse succeeded, want an error", name)
		} else if !strings.Contains(err.Error(), "resource T") {
			t.Errorf("%s: error %q does not name the resource", name, err)
		}
	}
}

func TestParseQueueRedriveForms(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `
Parameters:
  Vis: {Type: Number, Default: 120}
Resources:
  Short:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: !Ref Vis
      SqsManagedSseEnabled: true
      RedrivePolicy: {deadLetterTargetArn: !GetAtt DLQ.Arn, maxReceiveCount: 5}
  Long:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: long.fifo
      FifoQueue: true
      RedrivePolicy:
        deadLetterTargetArn: {"Fn::GetAtt": [DLQ, Arn]}
        maxReceiveCount: "3"
  JSONString:
    Type: AWS::SQS::Queue
    Properties:
      KmsMasterKeyId: alias/aws/sqs
      RedrivePolicy: '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:elsewhere", "maxReceiveCount": 7}'
  DLQ:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
`)
	want := map[string]Queue{
		"Short": {LogicalID: "Short", VisibilityTimeout: 120, MessageRetentionPeriod: DefaultMessageRetentionPeriod,
			SSE: true, DeadLetterTarget: "DLQ", MaxReceiveCount: 5},
		"Long": {LogicalID: "Long", QueueName: "long.fifo", FIFO: true, VisibilityTimeout: DefaultVisibilityTimeout,
			MessageRetentionPeriod: DefaultMessageRetentionPeriod, DeadLetterTarget: "DLQ", MaxReceiveCount: 3},
		"JSONString": {LogicalID: "JSONString", VisibilityTimeout: DefaultVisibilityTimeout, MessageRetentionPeriod: DefaultMessageRetentionPeriod,
			SSE: true, DeadLetterTargetArn: "arn:aws:sqs:us-east-1:123456789012:elsewhere", MaxReceiveCount: 7},
		"DLQ": {LogicalID: "DLQ", VisibilityTimeout: DefaultVisibilityTimeout, MessageRetentionPeriod: 1209600},
	}
	if len(s.Queues) != len(want) {
		t.Fatalf("%d queues, want %d", len(s.Queues), len(want))
	}
	for i, q := range s.Queues {
		if i > 0 && s.Queues[i-1].LogicalID > q.LogicalID {
			t.Errorf("queues not sorted by logical id: %s before %s", s.Queues[i-1].LogicalID, q.LogicalID)
		}
		if !reflect.DeepEqual(q, want[q.LogicalID]) {
			t.Errorf("queue %s =\n%+v\nwant\n%+v", q.LogicalID, q, want[q.LogicalID])
		}
	}
	if q, _ := s.Queue("DLQ"); q.HasDeadLetterQueue() {
		t.Error("DLQ.HasDeadLetterQueue() = true")
	}
}

func TestParseQueueRejects(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"missing target":     `RedrivePolicy: {deadLetterTargetArn: !GetAtt Nope.Arn, maxReceiveCount: 5}`,
		"target not a queue": `RedrivePolicy: {deadLetterTargetArn: !GetAtt Topic.Arn, maxReceiveCount: 5}`,
		"itself":             `RedrivePolicy: {deadLetterTargetArn: !GetAtt Q.Arn, maxReceiveCount: 5}`,
		"no count":           `RedrivePolicy: {deadLetterTargetArn: !GetAtt DLQ.Arn}`,
		"zero count":         `RedrivePolicy: {deadLetterTargetArn: !GetAtt DLQ.Arn, maxReceiveCount: 0}`,
		"no target":          `RedrivePolicy: {maxReceiveCount: 5}`,
		"bad JSON":           `RedrivePolicy: '{"deadLetterTargetArn": '`,
		"timeout not int":    `VisibilityTimeout: soon`,
		"intrinsic timeout":  `VisibilityTimeout: !GetAtt DLQ.Arn`,
	}
	for name, props := range tests {
		src := `
Resources:
  Topic: {Type: AWS::SNS::Topic}
  DLQ: {Type: AWS::SQS::Queue}
  Q:
    Type: AWS::SQS::Queue
    Properties:
      ` + props + "\n"
		if _, err := Parse([]byte(src)); err == nil {
			t.Errorf("%s: Parse succeeded, want an error", name)
		}
	}
}

const functionTemplate = `
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: provided.al2023
    Handler: bootstrap
    Architectures: [arm64]
    Timeout: 5
    Layers: [layerA]
    LoggingConfig: {LogFormat: JSON}
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
        LOG_LEVEL: INFO
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Queue: {Type: AWS::SQS::Queue}
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: makefile}
    Properties:
      CodeUri: .
      Timeout: 60
      Layers: [layerB]
      LoggingConfig: {LogGroup: !Ref Logs}
      Environment:
        Variables:
          LOG_LEVEL: DEBUG
          QUEUE_URL: !Ref Queue
      Events:
        Q:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            FunctionResponseTypes: [ReportBatchItemFailures]
      Policies:
        - AWSLambdaBasicExecutionRole
        - SQSSendMessagePolicy: {QueueName: !GetAtt Queue.QueueName}
        - Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Action: sqs:SendMessage
              Resource: !GetAtt Queue.Arn
            - Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:Query]
              Resource: [!GetAtt Table.Arn, !Sub "${Table.Arn}/index/*"]
  Logs: {Type: AWS::Logs::LogGroup}
  Other:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: other/
      Handler: other
      Runtime: !Ref AWS::NoValue
      Policies:
        Statement:
          Effect: Deny
          Action: "*"
          Resource: "*"
`

func TestFunctionGetsGlobalsTheWaySAMAppliesThem(t *testing.T) {
	t.Parallel()
	s := mustParse(t, functionTemplate)
	f, ok := s.Function("Fn")
	if !ok {
		t.Fatal("function Fn not found")
	}
	if f.Handler != "bootstrap" || f.Runtime != "provided.al2023" || !reflect.DeepEqual(f.Architectures, []string{"arm64"}) {
		t.Errorf("scalars from Globals: %q %q %q", f.Handler, f.Runtime, f.Architectures)
	}
	if f.Timeout != 60 {
		t.Errorf("Timeout = %d, want the function's 60 over Globals' 5", f.Timeout)
	}
	if got := f.Properties.Get("Layers").String(); got != "[layerA, layerB]" {
		t.Errorf("Layers = %s, want Globals' list then the function's", got)
	}
	if f.LogFormat != "JSON" || !f.LogGroup.Points("Logs") {
		t.Errorf("LoggingConfig not merged: format %q, group %s", f.LogFormat, f.LogGroup)
	}
	env := map[string]string{}
	for k, v := range f.Env {
		env[k] = v.String()
	}
	wantEnv := map[string]string{"TABLE_NAME": "!Ref Table", "LOG_LEVEL": "DEBUG", "QUEUE_URL": "!Ref Queue"}
	if !reflect.DeepEqual(env, wantEnv) {
		t.Errorf("Env = %v, want %v", env, wantEnv)
	}
	if f.BuildMethod != "makefile" || f.CodeURI != "." {
		t.Errorf("BuildMethod %q CodeURI %q", f.BuildMethod, f.CodeURI)
	}
	ev, ok := f.Events["Q"]
	if !ok || ev.Type != "SQS" || !ev.Properties.Get("Queue").Points("Queue") {
		t.Errorf("event Q = %+v", ev)
	}
	if len(f.Policies) != 3 {
		t.Errorf("%d policies, want 3", len(f.Policies))
	}
	if len(f.Statements) != 2 {
		t.Fatalf("%d statements, want 2", len(f.Statements))
	}
	st := f.Statements[1]
	if !reflect.DeepEqual(st.Actions, []string{"dynamodb:GetItem", "dynamodb:Query"}) || len(st.Resources) != 2 || st.Effect != "Allow" {
		t.Errorf("statement = %+v", st)
	}

	other, _ := s.Function("Other")
	if other.Handler != "other" || other.Timeout != 5 || other.MemorySize != DefaultMemorySize {
		t.Errorf("Other: handler %q timeout %d memory %d", other.Handler, other.Timeout, other.MemorySize)
	}
	if other.Runtime != "" {
		t.Errorf("Other: an intrinsic Runtime overrides Globals, got %q", other.Runtime)
	}
	if len(other.Statements) != 1 || other.Statements[0].Effect != "Deny" || other.Statements[0].Actions[0] != "*" {
		t.Errorf("Other: single inline document not read: %+v", other.Statements)
	}
}

func TestParseAlarm(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `
Parameters:
  NS: {Type: String, Default: App}
  TopicArn: {Type: String, Default: ""}
Conditions:
  MakeTopic: !Equals [!Ref TopicArn, ""]
Resources:
  Topic: {Type: AWS::SNS::Topic, Condition: MakeTopic}
  Q: {Type: AWS::SQS::Queue}
  A:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmDescription: look at it
      Namespace: !Ref NS
      MetricName: Failed
      Dimensions:
        - {Name: QueueName, Value: !GetAtt Q.QueueName}
      Statistic: Sum
      Period: 300
      EvaluationPeriods: 2
      Threshold: 1.5
      ComparisonOperator: GreaterThanOrEqualToThreshold
      TreatMissingData: notBreaching
      AlarmActions: [!If [MakeTopic, !Ref Topic, !Ref TopicArn]]
      OKActions: [!Ref Topic]
  Dup:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Metrics: []
`)
	a, ok := s.Alarm("A")
	if !ok {
		t.Fatal("alarm A not found")
	}
	if !a.Namespace.Points("NS") || a.MetricName.Scalar != "Failed" || a.Description != "look at it" {
		t.Errorf("alarm = %+v", a)
	}
	if !a.Dimensions["QueueName"].Points("Q") || a.Dimensions["QueueName"].Attribute() != "QueueName" {
		t.Errorf("dimension = %s", a.Dimensions["QueueName"])
	}
	if a.Period != 300 || a.EvaluationPeriods != 2 || a.DatapointsToAlarm != 2 || a.Threshold != 1.5 {
		t.Errorf("numbers: %d %d %d %v", a.Period, a.EvaluationPeriods, a.DatapointsToAlarm, a.Threshold)
	}
	if len(a.Actions) != 2 || a.Actions[0].Tag != "!If" {
		t.Errorf("Actions = %v", a.Actions)
	}
	if ns, ok := s.Resolve(a.Namespace); !ok || ns != "App" {
		t.Errorf("Resolve(namespace) = %q, %v", ns, ok)
	}
	if d, _ := s.Alarm("Dup"); !d.MetricMath {
		t.Error("Dup: MetricMath = false")
	}
	if _, err := Parse([]byte(`
Resources:
  A:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Dimensions: [{Name: X, Value: a}, {Name: X, Value: b}]
`)); err == nil {
		t.Error("a dimension given twice: want an error")
	}
}

func TestStackReferencesAndDefines(t *testing.T) {
	t.Parallel()
	s := mustParse(t, functionTemplate)
	if !s.Defines("Table") || !s.Defines("AWS::Region") || s.Defines("FnRole") {
		t.Error("Defines: want Table and AWS::Region defined and SAM's generated FnRole not")
	}
	var undefined []string
	for _, r := range s.References() {
		if r.Func != "Condition" && !s.Defines(r.Name) {
			undefined = append(undefined, r.String())
		}
	}
	if len(undefined) != 0 {
		t.Errorf("undefined references in a consistent template: %v", undefined)
	}
	if rs := s.ResourcesOfType(TypeFunction); len(rs) != 2 || rs[0].LogicalID != "Fn" {
		t.Errorf("ResourcesOfType(function) = %v", rs)
	}
}

func TestParseRejectsBadTemplates(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"invalid YAML":       "Resources: [",
		"empty":              "",
		"not a mapping":      "- a\n- b\n",
		"no resources":       "Description: x\n",
		"unknown section":    "Resource:\n  A: {Type: AWS::SNS::Topic}\n",
		"resource no type":   "Resources:\n  A: {Properties: {}}\n",
		"duplicate resource": "Resources:\n  A: {Type: AWS::SNS::Topic}\n  A: {Type: AWS::SNS::Topic}\n",
		"param and resource": "Parameters:\n  A: {Type: String}\nResources:\n  A: {Type: AWS::SNS::Topic}\n",
		"param without type": "Parameters:\n  P: {Default: x}\nResources:\n  A: {Type: AWS::SNS::Topic}\n",
		"globals not a map":  "Globals:\n  Function: [x]\nResources:\n  A: {Type: AWS::SNS::Topic}\n",
		"bad effect": `
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      Policies: [{Statement: [{Effect: allow, Action: x, Resource: y}]}]
`,
		"event without type": `
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      Events: {E: {Properties: {}}}
`,
	}
	for name, src := range tests {
		if _, err := Parse([]byte(src)); err == nil {
			t.Errorf("%s: Parse succeeded, want an error", name)
		}
	}
}

func TestLoadParsesTheEmbeddedTemplate(t *testing.T) {
	t.Parallel()
	s, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(s.Tables) == 0 || len(s.Queues) == 0 || len(s.Functions) == 0 {
		t.Errorf("Load: %d tables, %d queues, %d functions", len(s.Tables), len(s.Queues), len(s.Functions))
	}
	if !reflect.DeepEqual(s.Transform, []string{"AWS::Serverless-2016-10-31"}) {
		t.Errorf("Transform = %q", s.Transform)
	}
}
