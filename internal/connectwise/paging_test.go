package connectwise

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

func TestParseLinks(t *testing.T) {
	t.Parallel()
	const u = "https://api-na.myconnectwise.net/v4_6_release/apis/3.0/service/tickets"
	tests := []struct {
		name       string
		header     string
		next, last int
	}{
		{"first page", `<` + u + `?page=2&pageSize=25>; rel="next", <` + u + `?page=3&pageSize=25>; rel="last"`, 2, 3},
		{"middle", `<` + u + `?page=1>; rel="first", <` + u + `?page=1>; rel="prev", <` + u + `?page=3>; rel="next", <` + u + `?page=4>; rel="last"`, 3, 4},
		{"last page", `<` + u + `?page=1&pageSize=25>; rel="first", <` + u + `?page=3&pageSize=25>; rel="prev"`, 0, 0},
		{"pageSize before page", `<` + u + `?pageSize=1000&page=7>; rel="next"`, 7, 0},
		{"unencoded conditions with commas and brackets", `<` + u + `?conditions=id in (1,2) and id<5 and id>0&page=2>; rel="next", <` + u + `?conditions=id in (1,2)&page=9>; rel="last"`, 2, 9},
		{"unquoted rel, no spaces", `<` + u + `?page=5>;rel=next,<` + u + `?page=6>;rel=last`, 5, 6},
		{"forward-only pageId", `<` + u + `?pageId=1234&pageSize=25>; rel="next"`, 0, 0},
		{"empty", ``, 0, 0},
		{"garbage", `no links here`, 0, 0},
	}
	for _, tt := range tests {
		next, last := parseLinks(tt.header)
		if next != tt.next || last != tt.last {
			t.Errorf("%s: next, last = %d, %d; want %d, %d", tt.name, next, last, tt.next, tt.last)
		}
	}
}

func TestResponseReadsLinkHeader(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	f.api.HandleFunc("GET /service/tickets", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Link", `<https://x/v4_6_release/apis/3.0/service/tickets?page=2>; rel="next"`)
		w.Header().Add("Link", `<https://x/v4_6_release/apis/3.0/service/tickets?page=5>; rel="last"`)
		reply(w, 200, []byte(`[{"id":1}]`))
	})
	_, resp, err := f.client().Tickets.List(context.Background(), &ListOptions{Page: 1})
	if err != nil {
		t.Fatal(err)
	}
	if resp.NextPage != 2 || resp.LastPage != 5 {
		t.Fatalf("NextPage %d, LastPage %d", resp.NextPage, resp.LastPage)
	}
}

func TestListOptionsEncoding(t *testing.T) {
	t.Parallel()
	o := &ListOptions{
		Conditions:            `company/name="Smith & Sons+Co" and id=1`,
		ChildConditions:       `communicationItems/value like "*@acme.com"`,
		CustomFieldConditions: `caption="Managed ID" and value="EFS-1"`,
		OrderBy:               "id asc",
		Fields:                "id,summary",
		Page:                  2,
		PageSize:              50,
	}
	want := "conditions=company%2Fname%3D%22Smith%20%26%20Sons%2BCo%22%20and%20id%3D1" +
		"&childConditions=communicationItems%2Fvalue%20like%20%22%2A%40acme.com%22" +
		"&customFieldConditions=caption%3D%22Managed%20ID%22%20and%20value%3D%22EFS-1%22" +
		"&orderBy=id%20asc&fields=id%2Csummary&page=2&pageSize=50"
	if got := o.encode(); got != want {
		t.Fatalf("encode =\n%s\nwant\n%s", got, want)
	}
	if (&ListOptions{}).encode() != "" || (*ListOptions)(nil).encode() != "" {
		t.Fatal("empty options must encode to nothing")
	}
}

// threePages serves 5 tickets as pages of 2, 2 and 1, with Link headers,
// and checks that every page carries the same query.
func threePages(t *testing.T, f *fakeCW, wantConditions, wantPageSize string) *atomic.Int32 {
	var n atomic.Int32
	f.api.HandleFunc("GET /service/tickets", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		q := r.URL.Query()
		if got := q.Get("conditions"); got != wantConditions {
			t.Errorf("page %s: conditions = %q, want %q", q.Get("page"), got, wantConditions)
		}
		if strings.Contains(r.URL.RawQuery, "+") {
			t.Errorf("query %q encodes a space as '+'", r.URL.RawQuery)
		}
		if got := q.Get("orderBy"); got != "id asc" {
			t.Errorf("page %s: orderBy = %q", q.Get("page"), got)
		}
		if got := q.Get("pageSize"); got != wantPageSize {
			t.Errorf("page %s: pageSize = %q, want %q", q.Get("page"), got, wantPageSize)
		}
		page, _ := strconv.Atoi(q.Get("page"))
		link := func(p int, rel string) string {
			return fmt.Sprintf(`<https://x/v4_6_release/apis/3.0/service/tickets?pageSize=2&page=%d>; rel="%s"`, p, rel)
		}
		switch page {
		case 1:
			w.Header().Set("Link", link(2, "next")+", "+link(3, "last"))
			reply(w, 200, []byte(`[{"id":1},{"id":2}]`))
		case 2:
			w.Header().Set("Link", link(1, "first")+", "+link(1, "prev")+", "+link(3, "next")+", "+link(3, "last"))
			reply(w, 200, []byte(`[{"id":3},{"id":4}]`))
		case 3:
			w.Header().Set("Link", link(1, "first")+", "+link(2, "prev"))
			reply(w, 200, []byte(`[{"id":5}]`))
		default:
			t.Errorf("unexpected page %q", q.Get("page"))
			reply(w, 200, []byte(`[]`))
		}
	})
	return &n
}

func TestAllKeepsConditionsAcrossPages(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	cond, err := Build(And(Eq("company/id", 42), Eq("closedFlag", false), Eq("board/name", "Backup Alerts")))
	if err != nil {
		t.Fatal(err)
	}
	n := threePages(t, f, cond, "1000")
	var ids []int
	for tk, err := range f.client().Tickets.All(context.Background(), ListOptions{Conditions: cond, OrderBy: "id asc"}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID)
	}
	if fmt.Sprint(ids) != "[1 2 3 4 5]" || n.Load() != 3 {
		t.Fatalf("ids %v from %d requests", ids, n.Load())
	}
}

func TestAllStopsWhenTheConsumerBreaks(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	n := threePages(t, f, "", "2")
	for tk, err := range f.client().Tickets.All(context.Background(), ListOptions{OrderBy: "id asc", PageSize: 2}) {
		if err != nil || tk.ID != 1 {
			t.Fatalf("first = %v, %v", tk.ID, err)
		}
		break
	}
	count := 0
	for _, err := range f.client().Tickets.All(context.Background(), ListOptions{OrderBy: "id asc", PageSize: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		if count++; count == 3 {
			break
		}
	}
	if n.Load() != 3 { // 1 for the first loop, 2 for the second
		t.Fatalf("requests %d, want 3", n.Load())
	}
}

func TestAllWithoutLinkHeaderFollowsFullPages(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	var pages []string
	f.api.HandleFunc("GET /company/companies", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		pages = append(pages, q.Get("page"))
		if q.Get("conditions") != `deletedFlag=false` {
			t.Errorf("conditions = %q", q.Get("conditions"))
		}
		switch q.Get("page") {
		case "1":
			reply(w, 200, []byte(`[{"id":1},{"id":2}]`))
		case "2":
			reply(w, 200, []byte(`[{"id":3},{"id":4}]`))
		default:
			reply(w, 200, []byte(`[{"id":5}]`))
		}
	})
	var ids []int
	for co, err := range f.client().Companies.All(context.Background(), ListOptions{Conditions: "deletedFlag=false", PageSize: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, co.ID)
	}
	if fmt.Sprint(ids) != "[1 2 3 4 5]" || strings.Join(pages, ",") != "1,2,3" {
		t.Fatalf("ids %v, pages %v", ids, pages)
	}
}

func TestAllReportsAFailedPage(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	f.api.HandleFunc("GET /finance/agreements", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "1" {
			w.Header().Set("Link", `<https://x/v4_6_release/apis/3.0/finance/agreements?page=2>; rel="next"`)
			reply(w, 200, []byte(`[{"id":1}]`))
			return
		}
		reply(w, 403, fixture(t, "error_unauthorized.json"))
	})
	var ids []int
	var last error
	for a, err := range f.client().Agreements.All(context.Background(), ListOptions{}) {
		if err != nil {
			last = err
			continue
		}
		ids = append(ids, a.ID)
	}
	if fmt.Sprint(ids) != "[1]" || !errors.Is(last, ErrUnauthorized) || !strings.HasPrefix(last.Error(), "reading page 2 of finance/agreements: ConnectWise 403") {
		t.Fatalf("ids %v, err %v", ids, last)
	}
}
