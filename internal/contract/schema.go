package contract

import _ "embed"

// SchemaJSON is the JSON Schema (draft 2020-12) of contract version 1 (1.0
// and 1.1, one schema: specVersion is one of SpecVersions),
// schema/event-v1.schema.json. It states the same rules as Parse, with two
// things only Go can check: that every string is valid UTF-8 and that no key
// appears twice in an object. Calendar validity of times (no 30 February) is
// the schema's "format": "date-time", which a validator asserts when told to
// (santhosh-tekuri/jsonschema: Compiler.AssertFormat).
//
//go:embed schema/event-v1.schema.json
var SchemaJSON []byte
