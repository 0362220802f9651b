package partner

import "errors"

// ErrNotFound is matched (errors.Is) by every error that reports an unknown
// partner: no settings item, no secret. The webhook answers it exactly like a
// bad signature, so a caller cannot probe which partner ids exist.
var ErrNotFound = errors.New("partner not found")
