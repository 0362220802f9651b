package stackdef

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// parseValue parses one YAML document into a Value.
func parseValue(t *testing.T, src string) Value {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	v, err := fromNode(&n)
	if err != nil {
		t.Fatalf("fromNode: %v", err)
	}
	return v
}

func TestShortAndLongFormIntrinsicsAreTheSameValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		short, long string
	}{
		{"!Ref Table", "Ref: Table"},
		{"!GetAtt Queue.Arn", "Fn::GetAtt: Queue.Arn"},
		{"!GetAtt [Queue, Arn]", "Fn::GetAtt: [Queue, Arn]"},
		{"!Sub 'arn:${AWS::Partition}:x'", "Fn::Sub: 'arn:${AWS::Partition}:x'"},
		{"!If [C, !Ref A, !Ref B]", "Fn::If: [C, {Ref: A}, {Ref: B}]"},
		{"!Join ['', [a, !Ref B]]", "Fn::Join: ['', [a, {Ref: B}]]"},
	}
	for _, tt := range tests {
		s, l := parseValue(t, tt.short), parseValue(t, tt.long)
		if !s.Equal(l) {
			t.Errorf("%q = %s, %q = %s: want equal", tt.short, s, tt.long, l)
		}
	}
}

func TestTargetAndAttribute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src          string
		target, attr string
	}{
		{"!Ref Table", "Table", ""},
		{"!GetAtt EventsDLQ.Arn", "EventsDLQ", "Arn"},
		{"!GetAtt [EventsDLQ, QueueName]", "EventsDLQ", "QueueName"},
		{"!GetAtt Table.StreamArn", "Table", "StreamArn"},
		{"{Fn::GetAtt: [Api, ApiEndpoint]}", "Api", "ApiEndpoint"},
		{"!Sub ${Table.Arn}", "", ""},
		{"Table", "", ""},
	}
	for _, tt := range tests {
		v := parseValue(t, tt.src)
		if got := v.Target(); got != tt.target {
			t.Errorf("%s: Target() = %q, want %q", tt.src, got, tt.target)
		}
		if got := v.Attribute(); got != tt.attr {
			t.Errorf("%s: Attribute() = %q, want %q", tt.src, got, tt.attr)
		}
		if tt.target != "" && !v.Points(tt.target) {
			t.Errorf("%s: Points(%q) = false", tt.src, tt.target)
		}
	}
}

func TestReferencesFindsRefGetAttSubAndConditions(t *testing.T) {
	t.Parallel()
	v := parseValue(t, `
A: !Ref Param
B: !GetAtt Queue.Arn
C: !Sub "arn:${AWS::Partition}:s3:::${Bucket}/${Table.Arn}/${!Literal}"
D: !Sub
  - "${Local}-${Other}"
  - Local: !Ref Inner
E: !If [HasThing, !Ref Yes, !Ref AWS::NoValue]
F:
  Fn::Base64: !Sub "${Deep}"
G: [!Condition Cond2]
`)
	var got []string
	for _, r := range v.References() {
		s := r.Func + ":" + r.Name
		if r.Attribute != "" {
			s += "." + r.Attribute
		}
		got = append(got, s)
	}
	want := []string{
		"Ref:Param",
		"GetAtt:Queue.Arn",
		"Sub:AWS::Partition", "Sub:Bucket", "Sub:Table.Arn",
		"Sub:Other", "Ref:Inner",
		"Condition:HasThing", "Ref:Yes", "Ref:AWS::NoValue",
		"Sub:Deep",
		"Condition:Cond2",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("References()\n got %q\nwant %q", got, want)
	}
}

func TestSubVariables(t *testing.T) {
	t.Parallel()
	got := SubVariables("https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/v1/{partnerId}/${!Literal}${}")
	want := []string{"HttpApi", "AWS::Region", "AWS::URLSuffix"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SubVariables = %q, want %q", got, want)
	}
}

func TestGetItemsAndScalars(t *testing.T) {
	t.Parallel()
	v := parseValue(t, `
a: {b: {c: "42"}}
one: x
list: [x, y]
yes: True
f: 1.5
tagged: !Ref X
`)
	if n, err := v.Get("a", "b", "c").Int(); err != nil || n != 42 {
		t.Errorf("Get(a,b,c).Int() = %d, %v", n, err)
	}
	if !v.Get("a", "missing", "c").IsZero() || !v.Get("tagged", "x").IsZero() {
		t.Error("Get of a missing path or through an intrinsic must be absent")
	}
	if got := len(v.Get("one").Items()); got != 1 {
		t.Errorf("Items of a scalar: %d elements, want 1", got)
	}
	if got := len(v.Get("list").Items()); got != 2 {
		t.Errorf("Items of a list: %d elements, want 2", got)
	}
	if got := v.Get("nothing").Items(); got != nil {
		t.Errorf("Items of an absent value = %v, want nil", got)
	}
	if b, err := v.Get("yes").Bool(); err != nil || !b {
		t.Errorf("Bool(True) = %v, %v", b, err)
	}
	if f, err := v.Get("f").Float(); err != nil || f != 1.5 {
		t.Errorf("Float = %v, %v", f, err)
	}
	if _, err := v.Get("tagged").Int(); err == nil {
		t.Error("Int of an intrinsic: want an error")
	}
	if _, ok := v.Get("tagged").Literal(); ok {
		t.Error("Literal of an intrinsic: want false")
	}
}

func TestStringRendersTags(t *testing.T) {
	t.Parallel()
	v := parseValue(t, `!If [CreateAlarmTopic, !Ref AlarmTopic, {Ref: AlarmTopicArn}]`)
	if got, want := v.String(), "!If [CreateAlarmTopic, !Ref AlarmTopic, !Ref AlarmTopicArn]"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestIAMConditionBlockIsNotTheConditionFunction(t *testing.T) {
	t.Parallel()
	v := parseValue(t, `Condition: {StringEquals: {"aws:SourceAccount": "1"}}`)
	if v.Tag != "" || v.Get("Condition", "StringEquals").IsZero() {
		t.Errorf("an IAM Condition block became %s", v)
	}
}

func TestFromNodeRejects(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"duplicate key": "a: 1\na: 2\n",
		"merge key":     "base: &b {x: 1}\nother:\n  <<: *b\n",
	}
	for name, src := range tests {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(src), &n); err != nil {
			t.Fatalf("%s: yaml: %v", name, err)
		}
		if _, err := fromNode(&n); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestAliasesAreFollowed(t *testing.T) {
	t.Parallel()
	v := parseValue(t, "a: &x !Ref Table\nb: *x\n")
	if !v.Get("b").Points("Table") {
		t.Errorf("alias b = %s, want !Ref Table", v.Get("b"))
	}
}

func TestWalkPaths(t *testing.T) {
	t.Parallel()
	v := parseValue(t, "a: [x, {b: y}]\n")
	var paths []string
	v.Walk(func(path []string, _ Value) bool {
		paths = append(paths, strings.Join(path, "/"))
		return true
	})
	want := []string{"", "a", "a/0", "a/1", "a/1/b"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("Walk paths = %q, want %q", paths, want)
	}
}
