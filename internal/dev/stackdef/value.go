package stackdef

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Kind is the YAML shape of a Value.
type Kind int

// Kinds of Value.
const (
	// Absent is the Kind of the zero Value: the key is not in the template.
	Absent Kind = iota
	// Scalar is a string, number, boolean or null.
	Scalar
	// Sequence is a YAML list.
	Sequence
	// Mapping is a YAML map with string keys.
	Mapping
)

// String returns the name of the kind.
func (k Kind) String() string {
	switch k {
	case Absent:
		return "absent"
	case Scalar:
		return "scalar"
	case Sequence:
		return "sequence"
	case Mapping:
		return "mapping"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one node of a CloudFormation template, intrinsic functions kept.
//
// A plain value has Tag "" and its data in Scalar, Seq or Map (per Kind). An
// intrinsic function has Tag set to its short form ("!Ref", "!GetAtt",
// "!Sub", "!If", "!Join", ...) whatever form the template used (the long
// form `Fn::GetAtt: [X, Arn]` and `Ref: X` are normalised to the short one),
// and its argument in Scalar, Seq or Map exactly as the short form writes it:
// `!Ref Table` is {Tag: "!Ref", Kind: Scalar, Scalar: "Table"} and
// `!If [C, a, b]` is {Tag: "!If", Kind: Sequence, Seq: [C, a, b]}. Only in the
// long form can the argument itself be an intrinsic (`Fn::Base64: !Sub ...`):
// then Inner holds it and Kind is that of Inner.
//
// The zero Value (Kind Absent) stands for "not in the template".
type Value struct {
	Kind   Kind
	Tag    string
	Scalar string
	Seq    []Value
	Map    map[string]Value
	// Keys lists the keys of Map in template order.
	Keys []string
	// Inner is the argument of an intrinsic when that argument is itself an
	// intrinsic (long form only); nil otherwise.
	Inner *Value
	// Line is the 1-based line of the value in the template (0 if unknown).
	Line int
}

// shortTags maps the long-form intrinsic keys to their short YAML tags.
var shortTags = map[string]string{
	"Ref":                  "!Ref",
	"Condition":            "!Condition",
	"Fn::And":              "!And",
	"Fn::Base64":           "!Base64",
	"Fn::Cidr":             "!Cidr",
	"Fn::Equals":           "!Equals",
	"Fn::FindInMap":        "!FindInMap",
	"Fn::ForEach":          "!ForEach",
	"Fn::GetAZs":           "!GetAZs",
	"Fn::GetAtt":           "!GetAtt",
	"Fn::If":               "!If",
	"Fn::ImportValue":      "!ImportValue",
	"Fn::Join":             "!Join",
	"Fn::Length":           "!Length",
	"Fn::Not":              "!Not",
	"Fn::Or":               "!Or",
	"Fn::Select":           "!Select",
	"Fn::Split":            "!Split",
	"Fn::Sub":              "!Sub",
	"Fn::ToJsonString":     "!ToJsonString",
	"Fn::Transform":        "!Transform",
	"Fn::GetParam":         "!GetParam",
	"Fn::EachMemberIn":     "!EachMemberIn",
	"Fn::RefAll":           "!RefAll",
	"Fn::ValueOf":          "!ValueOf",
	"Fn::ValueOfAll":       "!ValueOfAll",
	"Fn::Contains":         "!Contains",
	"Fn::EachMemberEquals": "!EachMemberEquals",
}

// fromNode converts a yaml.v3 node tree into a Value, keeping custom tags.
func fromNode(n *yaml.Node) (Value, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return Value{}, nil
		}
		return fromNode(n.Content[0])
	case yaml.AliasNode:
		if n.Alias == nil {
			return Value{}, fmt.Errorf("line %d: alias without anchor", n.Line)
		}
		return fromNode(n.Alias)
	case yaml.ScalarNode:
		return Value{Kind: Scalar, Tag: customTag(n.Tag), Scalar: n.Value, Line: n.Line}, nil
	case yaml.SequenceNode:
		v := Value{Kind: Sequence, Tag: customTag(n.Tag), Seq: make([]Value, 0, len(n.Content)), Line: n.Line}
		for _, c := range n.Content {
			cv, err := fromNode(c)
			if err != nil {
				return Value{}, err
			}
			v.Seq = append(v.Seq, cv)
		}
		return v, nil
	case yaml.MappingNode:
		v := Value{Kind: Mapping, Tag: customTag(n.Tag), Map: make(map[string]Value, len(n.Content)/2), Line: n.Line}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return Value{}, fmt.Errorf("line %d: mapping key is not a string", k.Line)
			}
			if k.Tag == "!!merge" {
				return Value{}, fmt.Errorf("line %d: YAML merge keys (<<) are not supported in CloudFormation templates", k.Line)
			}
			if _, dup := v.Map[k.Value]; dup {
				return Value{}, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			cv, err := fromNode(val)
			if err != nil {
				return Value{}, err
			}
			v.Map[k.Value] = cv
			v.Keys = append(v.Keys, k.Value)
		}
		return longForm(v), nil
	}
	return Value{}, fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
}

// customTag returns a node's tag when it is an application tag such as !Ref,
// and "" for YAML's own tags (!!str, !!int, ...) and the non-specific "!".
func customTag(tag string) string {
	if tag == "" || tag == "!" || strings.HasPrefix(tag, "!!") || strings.HasPrefix(tag, "tag:yaml.org,2002:") {
		return ""
	}
	return tag
}

// longForm turns a one-key mapping written in the long intrinsic form
// (`Ref: X`, `Fn::GetAtt: [X, Arn]`) into the short form's Value.
func longForm(m Value) Value {
	if m.Tag != "" || len(m.Keys) != 1 {
		return m
	}
	key := m.Keys[0]
	tag, ok := shortTags[key]
	if !ok {
		return m
	}
	arg := m.Map[key]
	if key == "Condition" && (arg.Kind != Scalar || arg.Tag != "") {
		// An IAM statement's Condition block, not the Condition function.
		return m
	}
	if arg.Tag != "" {
		inner := arg
		return Value{Kind: arg.Kind, Tag: tag, Inner: &inner, Line: m.Line}
	}
	arg.Tag = tag
	arg.Line = m.Line
	return arg
}

// IsZero reports whether v is absent from the template.
func (v Value) IsZero() bool { return v.Kind == Absent }

// IsIntrinsic reports whether v is an intrinsic function (a tagged value).
func (v Value) IsIntrinsic() bool { return v.Tag != "" }

// Get walks v through nested plain mappings by key and returns the value at
// the end of the path, or the zero Value when any step is missing.
func (v Value) Get(path ...string) Value {
	for _, k := range path {
		if v.Kind != Mapping || v.Tag != "" {
			return Value{}
		}
		next, ok := v.Map[k]
		if !ok {
			return Value{}
		}
		v = next
	}
	return v
}

// Items returns the elements of a plain sequence, a one-element slice for any
// other present value (CloudFormation often accepts "one or a list"), and nil
// when v is absent.
func (v Value) Items() []Value {
	switch {
	case v.Kind == Absent:
		return nil
	case v.Kind == Sequence && v.Tag == "":
		return v.Seq
	}
	return []Value{v}
}

// Literal returns v's text when v is a plain (non-intrinsic) scalar.
func (v Value) Literal() (string, bool) {
	if v.Kind != Scalar || v.Tag != "" {
		return "", false
	}
	return v.Scalar, true
}

// Int returns v as an integer when v is a plain scalar holding one.
func (v Value) Int() (int, error) {
	s, ok := v.Literal()
	if !ok {
		return 0, fmt.Errorf("line %d: want an integer, got %s", v.Line, v)
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("line %d: want an integer, got %q", v.Line, s)
	}
	return n, nil
}

// Float returns v as a number when v is a plain scalar holding one.
func (v Value) Float() (float64, error) {
	s, ok := v.Literal()
	if !ok {
		return 0, fmt.Errorf("line %d: want a number, got %s", v.Line, v)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("line %d: want a number, got %q", v.Line, s)
	}
	return f, nil
}

// Bool returns v as a boolean when v is a plain scalar true or false (in any
// case, as CloudFormation accepts "true" and "True").
func (v Value) Bool() (bool, error) {
	s, ok := v.Literal()
	if !ok {
		return false, fmt.Errorf("line %d: want a boolean, got %s", v.Line, v)
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("line %d: want a boolean, got %q", v.Line, s)
}

// Target returns the logical name that a !Ref or !GetAtt names (the resource
// or parameter), and "" for any other value.
func (v Value) Target() string {
	switch v.Tag {
	case "!Ref":
		if v.Kind == Scalar {
			return v.Scalar
		}
	case "!GetAtt":
		name, _ := getAtt(v)
		return name
	}
	return ""
}

// Attribute returns the attribute of a !GetAtt ("Arn" for !GetAtt Queue.Arn),
// and "" for any other value.
func (v Value) Attribute() string {
	if v.Tag != "!GetAtt" {
		return ""
	}
	_, attr := getAtt(v)
	return attr
}

// getAtt splits the argument of a !GetAtt: "X.Attr" or [X, Attr].
func getAtt(v Value) (name, attr string) {
	switch v.Kind {
	case Scalar:
		name, attr, _ = strings.Cut(v.Scalar, ".")
	case Sequence:
		if len(v.Seq) > 0 {
			name = v.Seq[0].Scalar
		}
		if len(v.Seq) > 1 {
			attr = v.Seq[1].Scalar
		}
	}
	return name, attr
}

// Points reports whether v is a !Ref of name or a !GetAtt of one of name's
// attributes.
func (v Value) Points(name string) bool {
	return (v.Tag == "!Ref" || v.Tag == "!GetAtt") && v.Target() == name
}

// Equal reports whether v and w hold the same data and intrinsics (lines are
// ignored).
func (v Value) Equal(w Value) bool {
	if v.Kind != w.Kind || v.Tag != w.Tag || v.Scalar != w.Scalar ||
		len(v.Seq) != len(w.Seq) || len(v.Map) != len(w.Map) || (v.Inner == nil) != (w.Inner == nil) {
		return false
	}
	if v.Inner != nil && !v.Inner.Equal(*w.Inner) {
		return false
	}
	for i := range v.Seq {
		if !v.Seq[i].Equal(w.Seq[i]) {
			return false
		}
	}
	for k, x := range v.Map {
		y, ok := w.Map[k]
		if !ok || !x.Equal(y) {
			return false
		}
	}
	return true
}

// String renders v compactly in YAML flow style, tags included, for messages:
// `!GetAtt EventsDLQ.Arn`, `!If [CreateAlarmTopic, !Ref AlarmTopic, ...]`.
func (v Value) String() string {
	var b strings.Builder
	v.render(&b)
	return b.String()
}

func (v Value) render(b *strings.Builder) {
	if v.Tag != "" {
		b.WriteString(v.Tag)
		b.WriteByte(' ')
	}
	if v.Inner != nil {
		v.Inner.render(b)
		return
	}
	switch v.Kind {
	case Absent:
		b.WriteString("<absent>")
	case Scalar:
		if v.Scalar == "" || strings.ContainsAny(v.Scalar, ",[]{}:#") {
			b.WriteString(strconv.Quote(v.Scalar))
		} else {
			b.WriteString(v.Scalar)
		}
	case Sequence:
		b.WriteByte('[')
		for i, c := range v.Seq {
			if i > 0 {
				b.WriteString(", ")
			}
			c.render(b)
		}
		b.WriteByte(']')
	case Mapping:
		b.WriteByte('{')
		for i, k := range v.Keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k)
			b.WriteString(": ")
			v.Map[k].render(b)
		}
		b.WriteByte('}')
	}
}

// Walk calls fn for v and every value below it, depth first, with the path of
// keys and indexes that leads to it. When fn returns false Walk does not
// descend into that value.
func (v Value) Walk(fn func(path []string, v Value) bool) {
	v.walk(nil, fn)
}

func (v Value) walk(path []string, fn func([]string, Value) bool) {
	if !fn(path, v) {
		return
	}
	if v.Inner != nil {
		v.Inner.walk(path, fn)
		return
	}
	switch v.Kind {
	case Sequence:
		for i, c := range v.Seq {
			c.walk(appendPath(path, strconv.Itoa(i)), fn)
		}
	case Mapping:
		for _, k := range v.Keys {
			v.Map[k].walk(appendPath(path, k), fn)
		}
	}
}

func appendPath(path []string, elem string) []string {
	p := make([]string, len(path), len(path)+1)
	copy(p, path)
	return append(p, elem)
}

// Reference is one name that a template value points at.
type Reference struct {
	// Func is "Ref", "GetAtt", "Sub" (a ${...} variable of a !Sub) or
	// "Condition" (the condition of an !If, or a !Condition).
	Func string
	// Name is the logical id, parameter, pseudo parameter (AWS::Region) or
	// condition named.
	Name string
	// Attribute is the attribute of a !GetAtt or of a ${Name.Attribute}
	// variable; "" otherwise.
	Attribute string
	// Line is the line of the intrinsic in the template.
	Line int
}

// String renders the reference as the template writes it.
func (r Reference) String() string {
	name := r.Name
	if r.Attribute != "" {
		name += "." + r.Attribute
	}
	switch r.Func {
	case "Sub":
		return fmt.Sprintf("${%s} (line %d)", name, r.Line)
	case "Condition":
		return fmt.Sprintf("condition %s (line %d)", name, r.Line)
	}
	return fmt.Sprintf("!%s %s (line %d)", r.Func, name, r.Line)
}

// References returns every Ref, GetAtt, !Sub variable and condition name
// used in v and below, in template order. Variables that a !Sub defines in
// its own variable map are not references and are left out.
func (v Value) References() []Reference {
	var refs []Reference
	v.Walk(func(_ []string, x Value) bool {
		switch x.Tag {
		case "!Ref":
			if x.Kind == Scalar {
				refs = append(refs, Reference{Func: "Ref", Name: x.Scalar, Line: x.Line})
			}
		case "!GetAtt":
			if x.Inner == nil {
				name, attr := getAtt(x)
				refs = append(refs, Reference{Func: "GetAtt", Name: name, Attribute: attr, Line: x.Line})
				return false
			}
		case "!Condition":
			if x.Kind == Scalar {
				refs = append(refs, Reference{Func: "Condition", Name: x.Scalar, Line: x.Line})
			}
		case "!If":
			if x.Kind == Sequence && len(x.Seq) > 0 {
				if c, ok := x.Seq[0].Literal(); ok {
					refs = append(refs, Reference{Func: "Condition", Name: c, Line: x.Line})
				}
			}
		case "!Sub":
			refs = append(refs, subReferences(x)...)
			if x.Kind == Sequence && len(x.Seq) > 1 {
				// The values of the variable map may hold intrinsics.
				refs = append(refs, x.Seq[1].References()...)
			}
			return x.Inner != nil
		}
		return true
	})
	return refs
}

// subReferences returns the ${...} variables of a !Sub template string that
// are not defined by the !Sub's own variable map.
func subReferences(v Value) []Reference {
	var tmpl string
	local := map[string]bool{}
	switch {
	case v.Inner != nil:
		return nil
	case v.Kind == Scalar:
		tmpl = v.Scalar
	case v.Kind == Sequence && len(v.Seq) > 0:
		tmpl = v.Seq[0].Scalar
		if len(v.Seq) > 1 {
			for _, k := range v.Seq[1].Keys {
				local[k] = true
			}
		}
	default:
		return nil
	}
	var refs []Reference
	for _, name := range SubVariables(tmpl) {
		if local[name] {
			continue
		}
		r := Reference{Func: "Sub", Name: name, Line: v.Line}
		if !strings.HasPrefix(name, "AWS::") {
			r.Name, r.Attribute, _ = strings.Cut(name, ".")
		}
		refs = append(refs, r)
	}
	return refs
}

// SubVariables returns the variable names of a !Sub template string in order
// of appearance: "${AWS::Region}" gives "AWS::Region", "${Table.Arn}" gives
// "Table.Arn". Escaped literals ("${!Literal}") are skipped.
func SubVariables(tmpl string) []string {
	var names []string
	for {
		i := strings.Index(tmpl, "${")
		if i < 0 {
			return names
		}
		tmpl = tmpl[i+2:]
		j := strings.IndexByte(tmpl, '}')
		if j < 0 {
			return names
		}
		name := tmpl[:j]
		tmpl = tmpl[j+1:]
		if name == "" || strings.HasPrefix(name, "!") {
			continue
		}
		names = append(names, strings.TrimSpace(name))
	}
}

// sortedKeys returns the keys of m in lexical order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
