package admin

// POST /v1/admin/connectwise/check: try ConnectWise credentials live, before
// (or without) storing them, and read the lists the setup chooses from.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// Bounds of what a check reads from a site. A site with more says so in the
// answer's notes (and productsTruncated / boardsTruncated).
const (
	// MaxCheckProducts is the most catalog products a check lists.
	MaxCheckProducts = 1000
	// MaxCheckBoards is the most service boards a check lists (each costs a
	// call for its statuses).
	MaxCheckBoards = 100
	// maxCheckStatuses bounds the statuses read of one board.
	maxCheckStatuses = 1000
	// checkParallel is how many boards' statuses are read at once.
	checkParallel = 6
	// CheckTimeout bounds a whole check, within the operator API's time
	// (API Gateway and the admin function: 30 s).
	CheckTimeout = 20 * time.Second
	// maxCheckBody bounds the check's request body.
	maxCheckBody = 16 << 10
)

// checkRequest is the body of POST /v1/admin/connectwise/check: the site,
// company and keys to try, or partnerId alone to try a stored partner's.
type checkRequest struct {
	PartnerID  string `json:"partnerId"`
	SiteURL    string `json:"siteUrl"`
	CompanyID  string `json:"companyId"`
	Codebase   string `json:"codebase"`
	PublicKey  string `json:"publicKey"`
	PrivateKey string `json:"privateKey"`
	ClientID   string `json:"clientId"`
}

// CheckStatus is one status of a board, as the site lists it.
type CheckStatus struct {
	ID     int    `json:"id"`
	Name   string `json:"name"`
	Closed bool   `json:"closed"`
	// Default is the board's default status (for new tickets).
	Default bool `json:"default,omitempty"`
}

// CheckBoard is an active service board and its active statuses, in the
// site's order.
type CheckBoard struct {
	ID       int           `json:"id"`
	Name     string        `json:"name"`
	Statuses []CheckStatus `json:"statuses"`
}

// CheckProduct is an active catalog product.
type CheckProduct struct {
	Identifier  string `json:"identifier"`
	Description string `json:"description"`
}

// CheckResult is the answer of POST /v1/admin/connectwise/check. OK says
// the site accepted the credentials and its lists were read; Problems say,
// in words, what failed (at most ConnectWise's own cleaned message, never a
// response body, never a key). Notes say what the answer leaves out.
type CheckResult struct {
	OK                bool           `json:"ok"`
	Problems          []Problem      `json:"problems"`
	Boards            []CheckBoard   `json:"boards"`
	Products          []CheckProduct `json:"products"`
	BoardsTruncated   bool           `json:"boardsTruncated,omitempty"`
	ProductsTruncated bool           `json:"productsTruncated,omitempty"`
	Notes             []string       `json:"notes"`
}

// siteCheck answers POST /v1/admin/connectwise/check. Nothing is stored.
//
// The body is either the site and keys to try ({siteUrl, companyId,
// codebase?, publicKey, privateKey, clientId}) or {"partnerId"} to try a
// stored partner's site with its stored keys; never both, so that stored
// keys are never sent to a site named in the request. A site the
// SitePolicy refuses (an internal address, or a name resolving to one) is
// answered 400 naming siteUrl without connecting.
func (a *API) siteCheck(r *http.Request) response {
	ctx := r.Context()
	var b checkRequest
	r.Body = io.NopCloser(io.LimitReader(r.Body, maxCheckBody))
	if err := decode(r, &b); err != nil {
		return reply(http.StatusBadRequest, errBody(`body must be {"siteUrl", "companyId", "codebase" (optional), "publicKey", "privateKey", "clientId"} or {"partnerId"}: `+err.Error(), ""))
	}
	var (
		p *partner.Partner
		s partner.Secrets
	)
	if b.PartnerID != "" {
		if b.SiteURL != "" || b.CompanyID != "" || b.Codebase != "" || b.PublicKey != "" || b.PrivateKey != "" || b.ClientID != "" {
			return reply(http.StatusBadRequest, errBody("send either partnerId alone (to check a stored partner with its stored keys) or the site, company and keys to check, not both", "partnerId"))
		}
		var resp *response
		if p, resp = a.lookup(ctx, b.PartnerID); resp != nil {
			return *resp
		}
		var found bool
		var err error
		if s, found, err = a.secrets(ctx, b.PartnerID); err != nil {
			return a.internal(ctx, err)
		} else if !found {
			return reply(http.StatusConflict, errBody(noKeys.Problem, noKeys.Setting))
		}
	} else {
		if resp := checkFields(b); resp != nil {
			return *resp
		}
		p = &partner.Partner{ID: "check", SiteURL: b.SiteURL, CompanyID: b.CompanyID, Codebase: b.Codebase}
		s = partner.Secrets{PublicKey: b.PublicKey, PrivateKey: b.PrivateKey, ClientID: b.ClientID}
	}
	if err := partner.CheckSiteURL(p.SiteURL, a.SitePolicy); err != nil {
		return reply(http.StatusBadRequest, errBody(problemText(err), "siteUrl"))
	}
	if p.Codebase != "" && !strings.HasSuffix(p.Codebase, "/") {
		p.Codebase += "/"
	}
	res := CheckResult{Problems: []Problem{}, Boards: []CheckBoard{}, Products: []CheckProduct{}, Notes: []string{}}
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	opts, err := p.ClientOptions(s)
	if err != nil {
		res.Problems = append(res.Problems, Problem{"secrets", err.Error()})
		return reply(http.StatusOK, res)
	}
	opts.HTTPClient = a.HTTPClient
	cw, err := connectwise.NewClient(ctx, opts)
	if err != nil {
		// A name that resolved to an internal address was refused before
		// any connection: the same 400 as a literal one.
		if errors.Is(err, connectwise.ErrInvalidSiteURL) {
			return reply(http.StatusBadRequest, errBody(cwText(err), "siteUrl"))
		}
		res.Problems = append(res.Problems, checkClientProblem(err, p.Codebase != ""))
		if ctx.Err() != nil {
			res.Problems = []Problem{timedOut}
		}
		return reply(http.StatusOK, res)
	}
	if err := a.readSite(ctx, cw, &res); err != nil {
		if errors.Is(err, connectwise.ErrAddressNotAllowed) {
			return reply(http.StatusBadRequest, errBody(cwText(err), "siteUrl"))
		}
		res.Problems = append(res.Problems, checkCallProblem(err))
	}
	if ctx.Err() != nil && len(res.Problems) > 0 {
		res.Problems = []Problem{timedOut}
	}
	res.OK = len(res.Problems) == 0
	return reply(http.StatusOK, res)
}

// timedOut is the problem of a check that ran out of time.
var timedOut = Problem{"siteUrl", fmt.Sprintf("ConnectWise did not answer the check within %s: try again; if it lasts, check that the site is up", CheckTimeout)}

// checkFields checks the site and keys of an explicit check body, saying
// which is missing or mistyped without repeating any.
func checkFields(b checkRequest) *response {
	for _, f := range []struct{ field, v, what string }{
		{"siteUrl", b.SiteURL, "the ConnectWise site, e.g. https://api-na.myconnectwise.net"},
		{"companyId", b.CompanyID, "the company id you log in to ConnectWise with"},
		{"publicKey", b.PublicKey, "the API member's public key (or the integrator login)"},
		{"privateKey", b.PrivateKey, "the API member's private key (or the integrator password)"},
		{"clientId", b.ClientID, "the integration's ConnectWise clientId"},
	} {
		if strings.TrimSpace(f.v) == "" {
			resp := reply(http.StatusBadRequest, errBody("required: "+f.what, f.field))
			return &resp
		}
		if f.v != strings.TrimSpace(f.v) || strings.ContainsFunc(f.v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			resp := reply(http.StatusBadRequest, errBody("has leading or trailing spaces or control characters (a copy-and-paste slip): enter it again", f.field))
			return &resp
		}
	}
	if strings.Contains(b.CompanyID, ":") {
		resp := reply(http.StatusBadRequest, errBody("must not contain ':'", "companyId"))
		return &resp
	}
	if strings.Contains(b.PublicKey, ":") {
		resp := reply(http.StatusBadRequest, errBody("must not contain ':'", "publicKey"))
		return &resp
	}
	return nil
}

// checkClientProblem words a client that could not be built: the codebase
// lookup (GET login/companyinfo) failed, or the options were refused.
func checkClientProblem(err error, codebaseGiven bool) Problem {
	text := cwText(err)
	switch {
	case errors.Is(err, connectwise.ErrUnauthorized):
		return checkCallProblem(err)
	case errors.Is(err, connectwise.ErrNotFound) || strings.Contains(text, "does not know company"):
		return Problem{"companyId", "the site does not know this company id (" + text + "): enter the company id you log in to ConnectWise with"}
	case strings.Contains(text, "credentials") || strings.Contains(text, "company ID") || strings.Contains(text, "public key"):
		return Problem{"secrets", text}
	case codebaseGiven && strings.Contains(text, "codebase"):
		return Problem{"codebase", text}
	}
	return Problem{"siteUrl", "ConnectWise could not be reached: " + text}
}

// checkCallProblem words a failed ConnectWise call of the check.
func checkCallProblem(err error) Problem {
	if errors.Is(err, connectwise.ErrUnauthorized) {
		return Problem{"secrets", "ConnectWise rejected the credentials (" + cwText(err) + "): check the company id, the API member's public and private keys, the clientId and the member's security role"}
	}
	return Problem{"siteUrl", "ConnectWise failed: " + cwText(err)}
}

// readSite reads the active boards with their active statuses and the
// active catalog products into res.
func (a *API) readSite(ctx context.Context, cw *connectwise.Client, res *CheckResult) error {
	boards, more, err := collect(ctx, cw.Boards.List, connectwise.ListOptions{OrderBy: "name asc"}, MaxCheckBoards, func(b connectwise.Board) bool { return !b.InactiveFlag })
	if err != nil {
		return fmt.Errorf("reading the service boards: %w", err)
	}
	if more {
		res.BoardsTruncated = true
		res.Notes = append(res.Notes, fmt.Sprintf("the site has more than %d active service boards: only the first %d (by name) are listed", MaxCheckBoards, MaxCheckBoards))
	}
	// The statuses of the boards, a few boards at a time: the check answers
	// within the operator API's time.
	res.Boards = make([]CheckBoard, len(boards))
	errs := make([]error, len(boards))
	sem := make(chan struct{}, checkParallel)
	var wg sync.WaitGroup
	for i, b := range boards {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			list := func(ctx context.Context, o *connectwise.ListOptions) ([]connectwise.BoardStatus, *connectwise.Response, error) {
				return cw.Boards.Statuses(ctx, b.ID, o)
			}
			sts, _, err := collect(ctx, list, connectwise.ListOptions{}, maxCheckStatuses, func(s connectwise.BoardStatus) bool { return !s.Inactive })
			if err != nil {
				errs[i] = fmt.Errorf("reading the statuses of board %q: %w", shown(b.Name), err)
				return
			}
			cb := CheckBoard{ID: b.ID, Name: shown(b.Name), Statuses: make([]CheckStatus, 0, len(sts))}
			for _, st := range sts {
				cb.Statuses = append(cb.Statuses, CheckStatus{ID: st.ID, Name: shown(st.Name), Closed: st.ClosedStatus, Default: st.DefaultFlag})
			}
			res.Boards[i] = cb
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			res.Boards = []CheckBoard{}
			return err
		}
	}
	if len(res.Boards) == 0 {
		res.Notes = append(res.Notes, "the site has no active service board (or the API member may not read them): create the board the guide's setup asks for")
	}
	cond, err := connectwise.Build(connectwise.Eq("inactiveFlag", false))
	if err != nil {
		return err
	}
	items, more, err := collect(ctx, cw.Catalog.List, connectwise.ListOptions{Conditions: cond, OrderBy: "identifier asc"}, MaxCheckProducts, nil)
	if err != nil {
		return fmt.Errorf("reading the product catalog: %w", err)
	}
	if more {
		res.ProductsTruncated = true
		res.Notes = append(res.Notes, fmt.Sprintf("the catalog has more than %d active products: only the first %d (by identifier) are listed", MaxCheckProducts, MaxCheckProducts))
	}
	for _, it := range items {
		res.Products = append(res.Products, CheckProduct{Identifier: shown(it.Identifier), Description: shown(it.Description)})
	}
	if len(res.Products) == 0 {
		res.Notes = append(res.Notes, "the catalog has no active product: billing needs the products of the guide's Figure 8")
	}
	return nil
}

// shown is a name read from ConnectWise as an answer shows it: on one line
// and bounded.
func shown(s string) string { return connectwise.Truncate(connectwise.CleanLine(s), 200) }

// collect reads pages of a ConnectWise list (1000 a page) and keeps the
// items keep accepts (nil: all), at most limit of them; more says the
// list has further items that were left out.
func collect[T any](ctx context.Context, list func(context.Context, *connectwise.ListOptions) ([]T, *connectwise.Response, error), opts connectwise.ListOptions, limit int, keep func(T) bool) (out []T, more bool, err error) {
	opts.PageSize, opts.Page = connectwise.DefaultAllPageSize, 1
	for {
		items, resp, err := list(ctx, &opts)
		if err != nil {
			return out, false, err
		}
		for _, it := range items {
			if keep != nil && !keep(it) {
				continue
			}
			if len(out) == limit {
				return out, true, nil
			}
			out = append(out, it)
		}
		next := 0
		switch {
		case resp != nil && resp.Header.Get("Link") != "":
			next = resp.NextPage
		case len(items) >= opts.PageSize:
			next = opts.Page + 1
		}
		if next <= opts.Page || len(items) == 0 {
			return out, false, nil
		}
		opts.Page = next
	}
}
