package costmeter

import (
	"math"
	"reflect"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/dev/stackdef"
)

// Item is a DynamoDB item.
type Item = map[string]types.AttributeValue

// ItemSize is the size of an item by DynamoDB's rules ("Item sizes and
// formats" in the DynamoDB developer guide): the UTF-8 length of every
// attribute name plus the size of its value. It is the size that capacity
// units are computed from (the 100 bytes of per-item overhead are storage
// only).
func ItemSize(item Item) int {
	n := 0
	for name, v := range item {
		n += len(name) + ValueSize(v)
	}
	return n
}

// ValueSize is the size of one attribute value: a string its UTF-8 bytes, a
// number 1 byte per two significant digits plus 1, a binary its raw bytes, a
// boolean or null 1 byte, a set the sum of its elements, a list or map 3
// bytes plus 1 byte per element plus its elements (a map's element also
// counts its name).
func ValueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return NumberSize(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range v.Value {
			n += NumberSize(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range v.Value {
			n += len(b)
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + ValueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + ValueSize(e)
		}
		return n
	}
	return 0
}

// NumberSize is the size of a number: leading and trailing zeroes, the
// sign, the decimal point and any exponent are not significant digits;
// 1 byte per two significant digits, plus 1 byte.
func NumberSize(s string) int {
	s = strings.TrimLeft(s, "+-")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	digits := strings.Replace(s, ".", "", 1)
	digits = strings.TrimLeft(digits, "0")
	digits = strings.TrimRight(digits, "0")
	return (len(digits)+1)/2 + 1
}

// WriteUnits is the write request units of writing an item of size bytes:
// one per started KB, at least one.
func WriteUnits(size int) float64 { return math.Max(1, math.Ceil(float64(size)/1024)) }

// ReadUnits is the read request units of reading size bytes: one per
// started 4 KB, at least one; half of that when eventually consistent.
func ReadUnits(size int, consistent bool) float64 {
	u := math.Max(1, math.Ceil(float64(size)/4096))
	if !consistent {
		u /= 2
	}
	return u
}

// IndexWrite is one write to a global secondary index caused by a write to
// its table.
type IndexWrite struct {
	Index string
	// Kind is put (the item enters the index), delete (it leaves it),
	// update (its projection changed) or a key change's delete and put.
	Kind string
	Size int
}

// IndexWrites are the writes a table write makes to the table's global
// secondary indexes, by the developer guide's rules ("Global secondary
// indexes: writes"): an item is in an index only when it has all the
// index's key attributes; entering or leaving an index is one write; a
// change of an index key attribute is two (a delete and a put); a change of
// a projected attribute is one; a write that changes nothing the index holds
// costs the index nothing. Each write is sized by the index entry (the
// projected attributes, table keys and index keys; an update by the larger
// of the entry before and after, as the table's own UpdateItem), and costs
// at least one unit.
func IndexWrites(t stackdef.Table, before, after Item) []IndexWrite {
	var out []IndexWrite
	for _, g := range t.GSIs {
		inB, inA := inIndex(g, before), inIndex(g, after)
		eb, ea := project(t, g, before), project(t, g, after)
		switch {
		case !inB && !inA:
		case inB && !inA:
			out = append(out, IndexWrite{g.Name, "delete", ItemSize(eb)})
		case !inB && inA:
			out = append(out, IndexWrite{g.Name, "put", ItemSize(ea)})
		case !sameKey(g.KeySchema, before, after):
			out = append(out, IndexWrite{g.Name, "key change: delete", ItemSize(eb)}, IndexWrite{g.Name, "key change: put", ItemSize(ea)})
		case !reflect.DeepEqual(eb, ea):
			out = append(out, IndexWrite{g.Name, "update", max(ItemSize(eb), ItemSize(ea))})
		}
	}
	return out
}

func inIndex(g stackdef.GSI, item Item) bool {
	if item == nil {
		return false
	}
	for _, k := range g.KeySchema {
		if _, ok := item[k.Name]; !ok {
			return false
		}
	}
	return true
}

func sameKey(k stackdef.KeySchema, a, b Item) bool {
	for _, e := range k {
		if !reflect.DeepEqual(a[e.Name], b[e.Name]) {
			return false
		}
	}
	return true
}

// project is the index entry of item: every attribute (ALL), or the table's
// and the index's keys (KEYS_ONLY) plus the listed ones (INCLUDE).
func project(t stackdef.Table, g stackdef.GSI, item Item) Item {
	if item == nil {
		return nil
	}
	if g.ProjectionType == "" || g.ProjectionType == "ALL" {
		return item
	}
	names := []string{}
	for _, k := range t.KeySchema {
		names = append(names, k.Name)
	}
	for _, k := range g.KeySchema {
		names = append(names, k.Name)
	}
	if g.ProjectionType == "INCLUDE" {
		names = append(names, g.NonKeyAttributes...)
	}
	e := Item{}
	for _, n := range names {
		if v, ok := item[n]; ok {
			e[n] = v
		}
	}
	return e
}

// KeyOf is the primary key of item in table t.
func KeyOf(t stackdef.Table, item Item) Item {
	k := Item{}
	for _, e := range t.KeySchema {
		if v, ok := item[e.Name]; ok {
			k[e.Name] = v
		}
	}
	return k
}

// Label names the kind of item a key is: the partition key up to its first
// '#' (EVENT#, LOG#, FAULT#, …, or the whole key when it has none, as
// HEALTH), then the sort key likewise, a timestamp shown as <time>.
func Label(t stackdef.Table, key Item) string {
	l := prefix(str(key[t.KeySchema.Hash()]))
	if r := t.KeySchema.Range(); r != "" {
		if sk := prefix(str(key[r])); sk != "" {
			l += " " + sk
		}
	}
	return l
}

func prefix(v string) string {
	if i := strings.IndexByte(v, '#'); i >= 0 {
		v = v[:i+1]
	}
	if v != "" && v[0] >= '0' && v[0] <= '9' {
		if strings.HasSuffix(v, "#") {
			return "<time>#"
		}
		return "<time>"
	}
	return v
}

func str(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	}
	return ""
}
