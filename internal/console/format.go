package console

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// when shows a time in UTC to the minute ("—" for the zero time).
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// iso is a time for a <time datetime> attribute.
func iso(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// num shows a number without needless decimals (at most 2).
func num(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// val shows a JSON value of the preview (from / to): numbers as num,
// absent as "—".
func val(v any) string {
	switch x := v.(type) {
	case nil:
		return "—"
	case float64:
		return num(x)
	case string:
		if x == "" {
			return "(empty)"
		}
		return x
	case bool:
		if x {
			return "yes"
		}
		return "no"
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
}

// deref shows an optional count ("not reported" when absent).
func deref(p *int) string {
	if p == nil {
		return "not reported"
	}
	return strconv.Itoa(*p)
}
