package contract

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// compileSchema compiles SchemaJSON, asserting formats (date-time).
func compileSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(SchemaJSON))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "https://efs-cw.github.io/backupbridge/schema/event-v1.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	return sch
}

// schemaAccepts reports whether body loads as JSON and validates.
func schemaAccepts(sch *jsonschema.Schema, body []byte) (bool, error) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	if err := sch.Validate(inst); err != nil {
		return false, err
	}
	return true, nil
}

func TestSchemaAcceptsSamples(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	for _, p := range samplePaths(t) {
		body := readFile(t, p)
		if ok, err := schemaAccepts(sch, body); !ok {
			t.Errorf("%s: schema rejects: %v", p, err)
		}
		if _, err := Parse(body); err != nil {
			t.Errorf("%s: Parse rejects: %v", p, err)
		}
	}
}

// TestSchemaAndParseAgree holds the schema to the same accepted and rejected
// bodies as Parse.
func TestSchemaAndParseAgree(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	for _, c := range cases(t) {
		if c.goOnly {
			continue
		}
		ok, err := schemaAccepts(sch, c.body)
		_, perr := Parse(c.body)
		switch {
		case c.valid() && !ok:
			t.Errorf("%s: schema rejects an accepted body: %v", c.name, err)
		case !c.valid() && ok:
			t.Errorf("%s: schema accepts a body Parse rejects (%v)", c.name, perr)
		}
		if (perr == nil) != ok {
			t.Errorf("%s: Parse error %v, schema accepts %v", c.name, perr, ok)
		}
	}
}

// TestSchemaStatesTheLimits reads the limits and patterns out of the schema
// and compares them with the Go constants.
func TestSchemaStatesTheLimits(t *testing.T) {
	t.Parallel()
	var s struct {
		Defs map[string]struct {
			MaxLength        int     `json:"maxLength"`
			Pattern          string  `json:"pattern"`
			ExclusiveMaximum float64 `json:"exclusiveMaximum"`
			Properties       map[string]struct {
				Pattern       string `json:"pattern"`
				MaxProperties int    `json:"maxProperties"`
				PropertyNames struct {
					MaxLength int `json:"maxLength"`
				} `json:"propertyNames"`
				AdditionalProperties struct {
					MaxLength int `json:"maxLength"`
				} `json:"additionalProperties"`
			} `json:"properties"`
		} `json:"$defs"`
		Properties map[string]struct {
			Const string   `json:"const"`
			Enum  []string `json:"enum"`
		} `json:"properties"`
		AllOf []struct {
			If struct {
				Properties struct {
					Type struct {
						Const string `json:"const"`
					} `json:"type"`
				} `json:"properties"`
			} `json:"if"`
			Then struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"then"`
		} `json:"allOf"`
	}
	if err := json.Unmarshal(SchemaJSON, &s); err != nil {
		t.Fatal(err)
	}
	d := s.Defs
	var names []string
	for _, typ := range Types {
		names = append(names, string(typ))
	}
	typeNames := strings.Join(names, " ")
	details := d["notification"].Properties["details"]
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"specVersions", strings.Join(s.Properties["specVersion"].Enum, " "), strings.Join(SpecVersions, " ")},
		{"types", strings.Join(s.Properties["type"].Enum, " "), typeNames},
		{"name length", d["name"].MaxLength, MaxNameRunes},
		{"message length", d["message"].MaxLength, MaxMessageRunes},
		{"details entries", details.MaxProperties, MaxDetails},
		{"detail key length", details.PropertyNames.MaxLength, MaxDetailKeyRunes},
		{"detail value length", details.AdditionalProperties.MaxLength, MaxDetailValueRunes},
		{"GB limit", d["gb"].ExclusiveMaximum, float64(MaxGB)},
		{"count limit", d["count"].ExclusiveMaximum, float64(MaxCount)},
		{"date-time pattern", d["dateTime"].Pattern, DateTimePattern},
		{"customer id pattern", d["customer"].Properties["id"].Pattern, CustomerIDPattern},
		{"account id pattern", d["account"].Properties["id"].Pattern, AccountIDPattern},
	} {
		if c.got != c.want {
			t.Errorf("%s: schema says %v, Go says %v", c.what, c.got, c.want)
		}
	}

	// One rule per type: it names the specVersion the type needs (when not
	// the first) and forbids every other type's data object.
	rules := map[string]map[string]json.RawMessage{}
	for _, r := range s.AllOf {
		rules[r.If.Properties.Type.Const] = r.Then.Properties
	}
	for _, typ := range Types {
		props, ok := rules[string(typ)]
		if !ok {
			t.Errorf("schema has no rule for type %s", typ)
			continue
		}
		var v struct {
			Const string `json:"const"`
		}
		if raw, ok := props["specVersion"]; ok {
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatal(err)
			}
		}
		if want := map[bool]string{true: MinSpecVersion(typ)}[MinSpecVersion(typ) != SpecVersions[0]]; v.Const != want {
			t.Errorf("type %s: the schema's specVersion rule is %q, Go's is %q", typ, v.Const, want)
		}
		for _, other := range Types {
			f := DataField(other)
			if f == DataField(typ) {
				continue
			}
			if raw := props[f]; string(raw) != "false" {
				t.Errorf("type %s: the schema does not forbid %s (%s)", typ, f, raw)
			}
		}
	}
}
