package contract

import "bytes"

// Compact returns body without the whitespace between its tokens: the form
// the webhook puts on the queue (queue.Message.Event), the body as the
// sender wrote it, byte for byte, but on one line. body must be a body Parse
// accepted (Compact does not check it). When there is nothing to remove,
// Compact returns body itself; otherwise a new slice.
func Compact(body []byte) []byte {
	var out []byte // nil until the first whitespace
	from := 0      // start of what is still to be copied to out
	for i := 0; i < len(body); {
		switch c := body[i]; {
		case c == '"':
			i = stringEnd(body, i+1)
		case isSpace(c):
			if out == nil {
				out = make([]byte, 0, len(body))
			}
			out = append(out, body[from:i]...)
			for i < len(body) && isSpace(body[i]) {
				i++
			}
			from = i
		default:
			i++
		}
	}
	if out == nil {
		return body
	}
	return append(out, body[from:]...)
}

// stringEnd returns the offset after the closing quote of the string whose
// contents start at i: the first quote not escaped, that is not preceded by
// an odd number of backslashes.
func stringEnd(b []byte, i int) int {
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		j += i
		k := j
		for k > i && b[k-1] == '\\' {
			k--
		}
		if (j-k)%2 == 0 {
			return j + 1
		}
		i = j + 1
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
