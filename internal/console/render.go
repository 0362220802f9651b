package console

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// layoutData is what templates/layout.html executes with.
type layoutData struct {
	Title    string
	Identity Identity
	Flash    string
	Data     any
}

var (
	pagesOnce sync.Once
	pages     map[string]*template.Template
	pagesErr  error
)

// baseFuncs are the template funcs; the request-bound ones are replaced per
// render (csrf, nonce, canWrite, identity).
func baseFuncs() template.FuncMap {
	return template.FuncMap{
		"csrf":      func() string { return "" },
		"nonce":     func() string { return "" },
		"canWrite":  func() bool { return false },
		"identity":  func() Identity { return Identity{} },
		"path":      url.PathEscape,
		"query":     url.QueryEscape,
		"ticketURL": ticketURL,
		"when":      when,
		"iso":       iso,
		"num":       num,
		"val":       val,
		"deref":     deref,
	}
}

// parsePages parses every page: templates/layout.html, every
// templates/*_partials.html (shared sub-templates) and the page's own file.
func parsePages() (map[string]*template.Template, error) {
	pagesOnce.Do(func() {
		names, err := fs.Glob(templateFS, "templates/*.html")
		if err != nil {
			pagesErr = err
			return
		}
		common := []string{"templates/layout.html"}
		for _, n := range names {
			if strings.HasSuffix(n, "_partials.html") {
				common = append(common, n)
			}
		}
		pages = map[string]*template.Template{}
		for _, n := range names {
			if slices.Contains(common, n) {
				continue
			}
			t, err := template.New("layout.html").Funcs(baseFuncs()).ParseFS(templateFS, append(slices.Clone(common), n)...)
			if err != nil {
				pagesErr = err
				return
			}
			pages[strings.TrimPrefix(n, "templates/")] = t
		}
	})
	return pages, pagesErr
}

// pageTemplate is the parsed layout + page.
func pageTemplate(page string) (*template.Template, error) {
	all, err := parsePages()
	if err != nil {
		return nil, err
	}
	t := all[page]
	if t == nil {
		return nil, fmt.Errorf("console: no page template %q", page)
	}
	return t, nil
}

// render answers status with the page template (a file under templates/
// defining "content" and optionally "title") inside the layout. data is
// reachable as .Data in the page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	c.renderFlash(w, r, status, page, "", data)
}

func (c *Console) renderFlash(w http.ResponseWriter, r *http.Request, status int, page, flash string, data any) {
	t, err := pageTemplate(page)
	if err != nil {
		c.log.ErrorContext(r.Context(), "console: no such page template", "page", page, "error", err)
		http.Error(w, "internal error: page template", http.StatusInternalServerError)
		return
	}
	id, _ := c.identify(r)
	fm := template.FuncMap{
		"csrf":     func() string { return c.csrfToken(r, id) },
		"nonce":    func() string { return c.newNonce() },
		"canWrite": func() bool { return id.CanWrite() },
		"identity": func() Identity { return id },
	}
	if err := execPage(w, status, t, fm, layoutData{Identity: id, Flash: flash, Data: data}); err != nil {
		c.log.ErrorContext(r.Context(), "console: rendering", "page", page, "error", err)
	}
}

// execPage executes a parsed page (layout + page) with the request-bound
// funcs fm into a buffer and, when that worked, answers it with status.
func execPage(w http.ResponseWriter, status int, t *template.Template, fm template.FuncMap, ld layoutData) error {
	t, err := t.Clone()
	if err == nil {
		var buf bytes.Buffer
		if err = t.Funcs(fm).ExecuteTemplate(&buf, "layout.html", ld); err == nil {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(status)
			_, _ = w.Write(buf.Bytes())
			return nil
		}
	}
	http.Error(w, "internal error: rendering the page", http.StatusInternalServerError)
	return err
}

// identify asks the authenticator who signed r.
func (c *Console) identify(r *http.Request) (Identity, bool) {
	if c.auth == nil {
		return Identity{}, false
	}
	return c.auth.Identify(r)
}

// csrfToken is HMAC(key, session id) for the current session.
func (c *Console) csrfToken(r *http.Request, id Identity) string {
	sid := id.Subject + "\x00" + string(id.Role)
	if si, ok := c.auth.(SessionIdentifier); ok {
		if s, ok := si.SessionID(r); ok {
			sid = s
		}
	}
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("bb-console-csrf\x00" + sid))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// requireWrite checks, for a state-changing request, that it is a POST by a
// signed-in operator carrying the session's CSRF token (form field csrf).
// When it returns ok=false it has answered (403, or 405 for another
// method): the handler just returns.
func (c *Console) requireWrite(w http.ResponseWriter, r *http.Request) (Identity, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return Identity{}, false
	}
	id, ok := c.identify(r)
	if !ok {
		c.forbidden(w, r, "You are not signed in (or your session has expired): sign in again.")
		return Identity{}, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if !SameOrigin(r) {
		c.forbidden(w, r, "This form was sent from another site.")
		return Identity{}, false
	}
	got := r.PostFormValue("csrf")
	want := c.csrfToken(r, id)
	if got == "" || !hmac.Equal([]byte(got), []byte(want)) {
		c.forbidden(w, r, "The form's security token is missing or out of date: reload the page and submit again.")
		return Identity{}, false
	}
	if !id.CanWrite() {
		c.forbidden(w, r, "Your role ("+string(id.Role)+") can only read: ask an operator to make this change.")
		return Identity{}, false
	}
	return id, true
}

func (c *Console) forbidden(w http.ResponseWriter, r *http.Request, msg string) {
	c.renderFlash(w, r, http.StatusForbidden, "error.html", msg, errorPage{Status: http.StatusForbidden, Message: msg})
}

type errorPage struct {
	Status  int
	Message string
}
