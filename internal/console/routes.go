package console

import (
	"context"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
)

// ContentSecurityPolicy is sent with every console answer.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// csp is ContentSecurityPolicy with the authenticator's form-action
// origins (FormActionOriginer) added; an origin that is not a plain
// https://host is ignored.
func csp(auth Authenticator) string {
	fo, ok := auth.(FormActionOriginer)
	if !ok {
		return ContentSecurityPolicy
	}
	extra := ""
	for _, o := range fo.FormActionOrigins() {
		u, err := url.Parse(o)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" ||
			strings.ContainsAny(u.Host, " ;,'\"") {
			continue
		}
		extra += " https://" + u.Host
	}
	return strings.Replace(ContentSecurityPolicy, "form-action 'self'", "form-action 'self'"+extra, 1)
}

// securityHeaders sets the headers of docs/console.md on every answer.
func securityHeaders(policy string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", policy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin") // no referrer leaves the console; same-origin POSTs keep their Origin
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// Routes is the console's handler; every route is under /console/.
func (c *Console) Routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
	})
	if c.auth != nil {
		c.auth.Routes(mux)
	}
	c.pageRoutes(mux)
	mux.HandleFunc("/console/", c.page(func(w http.ResponseWriter, r *http.Request, _ Identity) {
		c.renderFlash(w, r, http.StatusNotFound, "error.html", "There is no such page.", errorPage{Status: http.StatusNotFound})
	}))
	return securityHeaders(csp(c.auth), mux)
}

// page wraps a handler for signed-in people: a request without a session is
// redirected to the sign-in page (GET/HEAD) or refused 403 (anything else).
func (c *Console) page(h func(w http.ResponseWriter, r *http.Request, id Identity)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := c.identify(r)
		if !ok {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/console/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.forbidden(w, r, "You are not signed in (or your session has expired): sign in again.")
			return
		}
		h(w, r, id)
	}
}

// action wraps a POST handler: requireWrite, then h.
func (c *Console) action(h func(w http.ResponseWriter, r *http.Request, id Identity)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := c.requireWrite(w, r)
		if !ok {
			return
		}
		h(w, withHost(r), id)
	}
}

type hostKey struct{}

// withHost remembers the address the console was reached at, so that the
// operator API calls it makes carry it (the API derives the ConnectWise
// callback URL from it at partner setup).
func withHost(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), hostKey{}, r.Host))
}

// SafeNext returns next when it is a same-site path under /console/ (no
// scheme, no host, no "//" or "\" tricks), else "/console/".
func SafeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n\t") {
		return "/console/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/console/") {
		return "/console/"
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == ".." || seg == "." {
			return "/console/"
		}
	}
	return next
}
