package contract

import (
	"bytes"
	"encoding/json"
)

// Marshal writes e as compact JSON without HTML escaping: an event built in
// Go, or one Parse has validated and filled the defaults of. Parse reads it
// back to an equal event. (The webhook does not re-marshal what it receives:
// it enqueues the body itself, on one line: Compact.)
func Marshal(e *Event) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
