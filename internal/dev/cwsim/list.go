package cwsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Paging limits.
const (
	DefaultPageSize = 25
	MaxPageSize     = 1000
)

// listParams are the query parameters a list endpoint accepts. Any other
// parameter answers 400, so that a misspelt "condition=" fails loudly
// instead of returning every record.
var listParams = []string{"conditions", "childConditions", "customFieldConditions", "orderBy", "fields", "page", "pageSize", "pageId", "columns"}

// listQuery is a parsed list request.
type listQuery struct {
	cond        condExpr
	order       []orderKey
	fields      []string
	page        int
	pageSize    int
	forwardOnly bool
	pageID      int
}

type orderKey struct {
	field condField
	desc  bool
}

// parseListQuery reads conditions, orderBy, fields and paging from the
// query string. conditions, when non-nil, replaces the query's conditions
// (POST .../search takes them from the body).
func parseListQuery(r *http.Request, resource string, spec condSpec, conditions *string) (*listQuery, *response) {
	fail := func(field, msg string) (*listQuery, *response) {
		resp := badRequest(resource, field, msg)
		return nil, &resp
	}
	q := r.URL.Query()
	for k, v := range q {
		if !slices.Contains(listParams, k) {
			return fail(k, fmt.Sprintf("Unknown query parameter %q (parameters are case sensitive: %s).", k, strings.Join(listParams, ", ")))
		}
		if len(v) > 1 {
			return fail(k, fmt.Sprintf("Query parameter %q is given %d times.", k, len(v)))
		}
	}
	lq := &listQuery{page: 1, pageSize: DefaultPageSize}
	for _, k := range []string{"childConditions", "customFieldConditions", "columns"} {
		if strings.TrimSpace(q.Get(k)) != "" {
			return fail(k, k+" is not supported by the simulator.")
		}
	}
	condSrc := q.Get("conditions")
	if conditions != nil {
		if q.Has("conditions") {
			return fail("conditions", "Send the conditions in the search body, not in the query string.")
		}
		condSrc = *conditions
	}
	if strings.TrimSpace(condSrc) != "" {
		e, err := parseConditions(condSrc)
		if err == nil {
			err = e.check(spec)
		}
		if err != nil {
			var ce *conditionError
			field := "conditions"
			if errors.As(err, &ce) && ce.Field != "" {
				field = ce.Field
			}
			return fail(field, "Invalid conditions: "+err.Error())
		}
		lq.cond = e
	}
	if ob := strings.TrimSpace(q.Get("orderBy")); ob != "" {
		for part := range strings.SplitSeq(ob, ",") {
			words := strings.Fields(part)
			if len(words) == 0 || len(words) > 2 {
				return fail("orderBy", fmt.Sprintf("Invalid orderBy %q: use field [asc|desc].", ob))
			}
			f, ok := spec[words[0]]
			if !ok {
				return fail(words[0], fmt.Sprintf("%s cannot be used in orderBy on this resource.", words[0]))
			}
			k := orderKey{field: f}
			if len(words) == 2 {
				switch strings.ToLower(words[1]) {
				case "asc":
				case "desc":
					k.desc = true
				default:
					return fail("orderBy", fmt.Sprintf("Invalid orderBy direction %q: asc or desc.", words[1]))
				}
			}
			lq.order = append(lq.order, k)
		}
	}
	if fs := strings.TrimSpace(q.Get("fields")); fs != "" {
		for f := range strings.SplitSeq(fs, ",") {
			if f = strings.TrimSpace(f); f != "" {
				lq.fields = append(lq.fields, f)
			}
		}
	}
	var err error
	if lq.page, err = positiveParam(q, "page", 1); err != nil {
		return fail("page", err.Error())
	}
	if lq.pageSize, err = positiveParam(q, "pageSize", DefaultPageSize); err != nil {
		return fail("pageSize", err.Error())
	}
	if lq.pageSize > MaxPageSize {
		return fail("pageSize", fmt.Sprintf("pageSize cannot be greater than %d.", MaxPageSize))
	}
	if strings.EqualFold(r.Header.Get("pagination-type"), "forward-only") {
		lq.forwardOnly = true
		if q.Has("page") {
			return fail("page", "Forward-only paging takes pageId, not page.")
		}
		if q.Has("pageId") {
			if lq.pageID, err = positiveParam(q, "pageId", 0); err != nil {
				return fail("pageId", err.Error())
			}
		}
	} else if q.Has("pageId") {
		return fail("pageId", "pageId needs the header pagination-type: forward-only.")
	}
	return lq, nil
}

func positiveParam(q url.Values, name string, def int) (int, error) {
	if !q.Has(name) {
		return def, nil
	}
	v := q.Get(name)
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s must be a positive integer, not %q", name, v)
	}
	return n, nil
}

// toMap turns a record into its JSON object, as conditions see it.
func toMap(v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		return map[string]any{}
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return map[string]any{}
	}
	return m
}

// filter keeps the records matching the query's conditions, ordered.
func (lq *listQuery) filter(items []map[string]any) []map[string]any {
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		if lq.cond == nil || lq.cond.eval(it) {
			out = append(out, it)
		}
	}
	order := lq.order
	if lq.forwardOnly {
		order = nil // forward-only pages by id
	}
	slices.SortStableFunc(out, func(a, b map[string]any) int {
		for _, k := range order {
			n := compareJSON(lookupPath(a, k.field.path), lookupPath(b, k.field.path))
			if k.desc {
				n = -n
			}
			if n != 0 {
				return n
			}
		}
		return compareJSON(a["id"], b["id"])
	})
	return out
}

// compareJSON orders decoded JSON values of one kind; null sorts first.
func compareJSON(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch av := a.(type) {
	case float64:
		bv, _ := b.(float64)
		switch {
		case av < bv:
			return -1
		case av > bv:
			return 1
		}
		return 0
	case string:
		bv, _ := b.(string)
		return strings.Compare(strings.ToLower(av), strings.ToLower(bv))
	case bool:
		bv, _ := b.(bool)
		switch {
		case av == bv:
			return 0
		case !av:
			return -1
		}
		return 1
	}
	return 0
}

// listResponse filters, orders and pages records, and sets the Link header.
// Links keep every other query parameter (conditions included).
func listResponse(r *http.Request, lq *listQuery, items []map[string]any) response {
	all := lq.filter(items)
	h := http.Header{}
	var page []map[string]any
	if lq.forwardOnly {
		start := 0
		for start < len(all) && all[start]["id"].(float64) <= float64(lq.pageID) {
			start++
		}
		end := min(start+lq.pageSize, len(all))
		page = all[start:end]
		if end < len(all) && len(page) > 0 {
			last := int(page[len(page)-1]["id"].(float64))
			h.Set("Link", "<"+pageURL(r, "pageId", last)+`>; rel="next"`)
		}
	} else {
		lastPage := max(1, (len(all)+lq.pageSize-1)/lq.pageSize)
		start := min((lq.page-1)*lq.pageSize, len(all))
		end := min(start+lq.pageSize, len(all))
		page = all[start:end]
		var links []string
		if lq.page > 1 {
			links = append(links, "<"+pageURL(r, "page", 1)+`>; rel="first"`)
			links = append(links, "<"+pageURL(r, "page", min(lq.page-1, lastPage))+`>; rel="prev"`)
		}
		if lq.page < lastPage {
			links = append(links, "<"+pageURL(r, "page", lq.page+1)+`>; rel="next"`)
			links = append(links, "<"+pageURL(r, "page", lastPage)+`>; rel="last"`)
		}
		if len(links) > 0 {
			h.Set("Link", strings.Join(links, ", "))
		}
	}
	out := make([]any, len(page))
	for i, it := range page {
		out[i] = project(it, lq.fields)
	}
	resp := jsonResp(http.StatusOK, out)
	for k, v := range h {
		resp.header[k] = v
	}
	return resp
}

// pageURL is the request's absolute URL with one paging parameter replaced.
func pageURL(r *http.Request, param string, n int) string {
	q := r.URL.Query()
	q.Set(param, strconv.Itoa(n))
	u := url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	return u.String()
}

// project keeps only the named fields ("id", "status/name") of a record.
func project(m map[string]any, fields []string) map[string]any {
	if len(fields) == 0 {
		return m
	}
	out := map[string]any{}
	for _, f := range fields {
		path := strings.Split(f, "/")
		v := lookupPath(m, path)
		if v == nil {
			continue
		}
		cur := out
		for _, p := range path[:len(path)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
		cur[path[len(path)-1]] = v
	}
	return out
}

// countResponse answers a /count endpoint: {"count": n}.
func countResponse(lq *listQuery, items []map[string]any) response {
	return jsonResp(http.StatusOK, map[string]int{"count": len(lq.filter(items))})
}

// listOf converts records to their JSON objects.
func listOf[T any](items []T) []map[string]any {
	out := make([]map[string]any, len(items))
	for i := range items {
		out[i] = toMap(items[i])
	}
	return out
}

// getOne answers a single record, with the fields parameter honoured.
func getOne(r *http.Request, v any) response {
	q := r.URL.Query()
	for k := range q {
		if k != "fields" {
			return badRequest("", k, fmt.Sprintf("Unknown query parameter %q.", k))
		}
	}
	if fs := strings.TrimSpace(q.Get("fields")); fs != "" {
		var fields []string
		for f := range strings.SplitSeq(fs, ",") {
			if f = strings.TrimSpace(f); f != "" {
				fields = append(fields, f)
			}
		}
		return jsonResp(http.StatusOK, project(toMap(v), fields))
	}
	return jsonResp(http.StatusOK, v)
}

// listRecords answers a list request, or with count a /count request, over
// the records rows returns (called with Sim.mu held). rows may answer a
// response instead, the 404 of a missing parent record.
func listRecords[T any](s *Sim, q *request, resource string, conds condSpec, count bool, rows func(*state) ([]T, *response)) response {
	lq, bad := parseListQuery(q.r, resource, conds, nil)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	recs, nf := rows(&s.st)
	items := listOf(recs)
	s.mu.Unlock()
	if nf != nil {
		return *nf
	}
	if count {
		return countResponse(lq, items)
	}
	return listResponse(q.r, lq, items)
}

// every lists all the records of one slice of the state, for listRecords.
func every[T any](get func(*state) []T) func(*state) ([]T, *response) {
	return func(st *state) ([]T, *response) { return get(st), nil }
}

// getRecord answers a GET of the record with id q.ids[0] among those items
// returns (called with Sim.mu held), or a 404 "<noun> with id N was not
// found.".
func getRecord[T identified](s *Sim, q *request, noun string, items func(*state) []T) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs := items(&s.st)
	i := indexOf(recs, q.ids[0])
	if i < 0 {
		return recordNotFound(noun, q.ids[0])
	}
	return getOne(q.r, recs[i])
}

// recordNotFound is the 404 of an unknown record id.
func recordNotFound(noun string, id int) response {
	return notFound(noun + " with id " + itoa(id) + " was not found.")
}
