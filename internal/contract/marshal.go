package contract

import (
	"bytes"
	"encoding/json"
)

// Marshal writes e as compact JSON without HTML escaping: the form the
// webhook puts on the queue (queue.Message.Event) after Parse has validated
// it and filled its defaults. Parse reads it back to an equal event.
func Marshal(e *Event) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
