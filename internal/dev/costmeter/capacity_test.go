package costmeter

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/dev/stackdef"
)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

func TestItemSize(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		item Item
		want int
	}{
		{Item{"pk": s("abc")}, 2 + 3},
		{Item{"n": n("12345")}, 1 + 3 + 1},      // 5 significant digits: 3 bytes, + 1
		{Item{"n": n("-0.0012300")}, 1 + 2 + 1}, // 123
		{Item{"n": n("1000")}, 1 + 1 + 1},       // 1
		{Item{"b": &types.AttributeValueMemberBOOL{Value: true}}, 1 + 1},
		{Item{"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("ab"), s("c")}}}, 1 + 3 + (1 + 2) + (1 + 1)},
		{Item{"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": s("vv")}}}, 1 + 3 + (1 + 1 + 2)},
		{Item{"ss": &types.AttributeValueMemberSS{Value: []string{"a", "bc"}}}, 2 + 3},
		{Item{"é": s("ü")}, 2 + 2},
	} {
		if got := ItemSize(c.item); got != c.want {
			t.Errorf("ItemSize(%v) = %d, want %d", c.item, got, c.want)
		}
	}
}

func TestUnits(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		size       int
		w, rs, rev float64
	}{
		{0, 1, 1, 0.5}, {1024, 1, 1, 0.5}, {1025, 2, 1, 0.5}, {4096, 4, 1, 0.5}, {4097, 5, 2, 1},
	} {
		if got := WriteUnits(c.size); got != c.w {
			t.Errorf("WriteUnits(%d) = %v, want %v", c.size, got, c.w)
		}
		if got := ReadUnits(c.size, true); got != c.rs {
			t.Errorf("ReadUnits(%d, strong) = %v, want %v", c.size, got, c.rs)
		}
		if got := ReadUnits(c.size, false); got != c.rev {
			t.Errorf("ReadUnits(%d, eventual) = %v, want %v", c.size, got, c.rev)
		}
	}
}

var testTable = stackdef.Table{
	KeySchema: stackdef.KeySchema{{Name: "pk", KeyType: "HASH"}, {Name: "sk", KeyType: "RANGE"}},
	GSIs: []stackdef.GSI{
		{Name: "byCustomer", KeySchema: stackdef.KeySchema{{Name: "gsi1pk", KeyType: "HASH"}, {Name: "gsi1sk", KeyType: "RANGE"}}, ProjectionType: "ALL"},
		{Name: "keys", KeySchema: stackdef.KeySchema{{Name: "gsi2pk", KeyType: "HASH"}}, ProjectionType: "KEYS_ONLY"},
	},
}

func TestIndexWrites(t *testing.T) {
	t.Parallel()
	base := Item{"pk": s("P"), "sk": s("S"), "x": s("1")}
	with := func(extra Item) Item {
		out := Item{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	in1 := Item{"gsi1pk": s("C"), "gsi1sk": s("1")}
	for _, c := range []struct {
		name          string
		before, after Item
		want          string // index:kind, …
	}{
		{"new item outside every index", nil, base, ""},
		{"new item in byCustomer only (sparse: one key attribute is not enough)", nil, with(Item{"gsi1pk": s("C"), "gsi1sk": s("1"), "gsi2x": s("")}), "byCustomer:put"},
		{"half an index key is not in the index", nil, with(Item{"gsi1pk": s("C")}), ""},
		{"projected attribute changed (ALL)", with(in1), with(Item{"gsi1pk": s("C"), "gsi1sk": s("1"), "x": s("2")}), "byCustomer:update"},
		{"nothing changed", with(in1), with(in1), ""},
		{"index key changed", with(in1), with(Item{"gsi1pk": s("C"), "gsi1sk": s("2")}), "byCustomer:key change: delete,byCustomer:key change: put"},
		{"left the index", with(in1), base, "byCustomer:delete"},
		{"deleted", with(in1), nil, "byCustomer:delete"},
		{"non-key change: KEYS_ONLY index not written", with(Item{"gsi2pk": s("K")}), with(Item{"gsi2pk": s("K"), "x": s("9")}), ""},
	} {
		var got []string
		for _, w := range IndexWrites(testTable, c.before, c.after) {
			got = append(got, w.Index+":"+w.Kind)
		}
		if g := strings.Join(got, ","); g != c.want {
			t.Errorf("%s: index writes %q, want %q", c.name, g, c.want)
		}
	}
}

func TestLabel(t *testing.T) {
	t.Parallel()
	for key, want := range map[[2]string]string{
		{"EVENT#demo#abc", "CLAIM"}:                    "EVENT# CLAIM",
		{"LOG#demo", "2026-11-30T10:00:00Z#e1#ticket"}: "LOG# <time>#",
		{"HEALTH", "demo"}:                             "HEALTH demo",
		{"CUST#demo#1001", "ACCT#A1"}:                  "CUST# ACCT#",
	} {
		if got := Label(testTable, Item{"pk": s(key[0]), "sk": s(key[1])}); got != want {
			t.Errorf("Label(%v) = %q, want %q", key, got, want)
		}
	}
}
