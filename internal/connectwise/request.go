package connectwise

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ListOptions are the query parameters of a ConnectWise list call. Zero
// fields are not sent. Conditions strings are best made with Build.
type ListOptions struct {
	Conditions            string
	ChildConditions       string
	CustomFieldConditions string
	OrderBy               string
	Fields                string
	// Page counts from 1.
	Page int
	// PageSize is 25 at ConnectWise when unset, at most 1000.
	PageSize int
}

// encode returns the query string, every value fully URL-encoded (a space
// as %20, never '+').
func (o *ListOptions) encode() string {
	if o == nil {
		return ""
	}
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+strings.ReplaceAll(url.QueryEscape(v), "+", "%20"))
		}
	}
	add("conditions", o.Conditions)
	add("childConditions", o.ChildConditions)
	add("customFieldConditions", o.CustomFieldConditions)
	add("orderBy", o.OrderBy)
	add("fields", o.Fields)
	if o.Page > 0 {
		add("page", strconv.Itoa(o.Page))
	}
	if o.PageSize > 0 {
		add("pageSize", strconv.Itoa(o.PageSize))
	}
	return strings.Join(parts, "&")
}

func withOptions(path string, o *ListOptions) string {
	if q := o.encode(); q != "" {
		return path + "?" + q
	}
	return path
}

// PatchOp is one JSON Patch operation of a ConnectWise PATCH. Paths are
// case sensitive; to change a reference field replace the whole object
// (Replace("status", Reference{ID: 123})) rather than "status/id".
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Replace is the patch operation {"op":"replace","path":path,"value":value}.
// A zero number or false is sent as such.
func Replace(path string, value any) PatchOp {
	return PatchOp{Op: "replace", Path: path, Value: value}
}

// Reference is ConnectWise's reference to another record ({id, name,
// identifier}). Set ID or Identifier when sending one.
type Reference struct {
	ID         int    `json:"id,omitempty"`
	Name       string `json:"name,omitempty"`
	Identifier string `json:"identifier,omitempty"`
}

func checkID(what string, id int) error {
	if id <= 0 {
		return fmt.Errorf("connectwise: %s id must be positive, got %d", what, id)
	}
	return nil
}

// get is GET path into a new T.
func get[T any](ctx context.Context, c *Client, path string) (*T, *Response, error) {
	return send[T](ctx, c, http.MethodGet, path, nil)
}

// send is method path with body, answered by a T.
func send[T any](ctx context.Context, c *Client, method, path string, body any) (*T, *Response, error) {
	req, err := c.NewRequest(ctx, method, path, body)
	if err != nil {
		return nil, nil, err
	}
	v := new(T)
	resp, err := c.Do(req, v)
	if err != nil {
		return nil, resp, err
	}
	return v, resp, nil
}

// list is GET path?opts into a []T.
func list[T any](ctx context.Context, c *Client, path string, opts *ListOptions) ([]T, *Response, error) {
	req, err := c.NewRequest(ctx, http.MethodGet, withOptions(path, opts), nil)
	if err != nil {
		return nil, nil, err
	}
	var v []T
	resp, err := c.Do(req, &v)
	if err != nil {
		return nil, resp, err
	}
	return v, resp, nil
}

// all walks every page of GET path, sending every query parameter of opts
// on every page. Pages follow rel="next" of the Link header; without any
// Link header, a full page means there may be another.
func all[T any](ctx context.Context, c *Client, path string, opts ListOptions) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		if opts.PageSize <= 0 {
			opts.PageSize = DefaultAllPageSize
		}
		if opts.Page <= 0 {
			opts.Page = 1
		}
		for {
			items, resp, err := list[T](ctx, c, path, &opts)
			if err != nil {
				var zero T
				yield(zero, fmt.Errorf("reading page %d of %s: %w", opts.Page, path, err))
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			next := resp.NextPage
			if !resp.linked && len(items) >= opts.PageSize {
				next = opts.Page + 1
			}
			if next <= opts.Page || len(items) == 0 {
				return
			}
			opts.Page = next
		}
	}
}
