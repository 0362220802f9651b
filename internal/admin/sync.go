package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/datasync"
	"github.com/efs-cw/backupbridge/internal/managedid"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/resync"
	"github.com/efs-cw/backupbridge/internal/tickets"
)

// requestID derives a reprocess request id: the same operator request made
// twice (two clicks within the same minute, or with the same idempotency-key
// header) is one request.
func (a *API) requestID(r *http.Request, parts ...string) string {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		key = a.now().UTC().Truncate(time.Minute).Format(time.RFC3339)
	}
	sum := sha256.Sum256([]byte(strings.Join(append(parts, key), "#")))
	return "op-" + hex.EncodeToString(sum[:8])
}

func (a *API) syncNow(partnerID, customerID string, r *http.Request) response {
	ctx := r.Context()
	if _, resp := a.lookup(ctx, partnerID); resp != nil {
		return *resp
	}
	rid := a.requestID(r, "sync", partnerID, customerID)
	m := queue.Message{Version: queue.MessageVersion, Job: queue.JobSync, PartnerID: partnerID, CustomerID: customerID,
		EventID: "sync:" + rid, RequestID: rid, Force: true, ReceivedAt: a.now()}
	if err := a.Queue.Enqueue(ctx, m); err != nil {
		return reply(http.StatusServiceUnavailable, errBody("could not enqueue the sync; try again", ""))
	}
	return reply(http.StatusAccepted, map[string]any{"customerId": customerID, "requestId": rid, "status": "queued"})
}

func (a *API) reprocessSince(ctx context.Context, partnerID string, since time.Time) response {
	sum := sha256.Sum256([]byte(partnerID + "#" + since.UTC().Format(time.RFC3339Nano)))
	rid := "op-since-" + hex.EncodeToString(sum[:8])
	seen := map[string]bool{}
	queued := 0
	for e, err := range a.Log.Outstanding(ctx, partnerID) {
		if err != nil {
			return a.internal(ctx, err)
		}
		if e.At.Before(since) {
			break // newest first: the rest is older
		}
		if seen[e.EventID] || len(e.Event) == 0 || !resync.Reprocessable[e.Code] {
			continue
		}
		seen[e.EventID] = true
		m := queue.Message{Version: queue.MessageVersion, Job: queue.JobReprocess, PartnerID: partnerID, EventID: e.EventID,
			RequestID: rid, ReceivedAt: a.now(), Event: e.Event}
		if err := a.Queue.Enqueue(ctx, m); err != nil {
			return reply(http.StatusServiceUnavailable, errBody(fmt.Sprintf("enqueued %d, then failed; try again (repeats are harmless)", queued), ""))
		}
		queued++
	}
	return reply(http.StatusAccepted, map[string]any{"queued": queued, "requestId": rid})
}

// client builds the partner's ConnectWise client with its secrets s, or
// says what is wrong. A site the SitePolicy refuses (an internal address)
// and keys bound to another site or company are reported before anything
// is sent.
func (a *API) client(ctx context.Context, p *partner.Partner, s partner.Secrets) (*connectwise.Client, *Problem) {
	if err := partner.CheckSiteURL(p.SiteURL, a.SitePolicy); err != nil {
		return nil, &Problem{"siteUrl", problemText(err)}
	}
	opts, err := p.ClientOptions(s)
	if err != nil {
		return nil, &Problem{"secrets", err.Error()}
	}
	opts.HTTPClient = a.HTTPClient
	cw, err := connectwise.NewClient(ctx, opts)
	if err != nil {
		return nil, &Problem{"siteUrl", cwText(err)}
	}
	return cw, nil
}

// noKeys is the problem of a partner without stored secrets.
var noKeys = Problem{"secrets", "no ConnectWise keys stored for this partner: PUT them with the partner"}

// problemText is an *InvalidError's problem, or the error's text.
func problemText(err error) string {
	var ie *partner.InvalidError
	if errors.As(err, &ie) {
		return ie.Problem
	}
	return err.Error()
}

// cwText is what an answer says of an error from a ConnectWise call: the
// connectwise package's text (which carries at most ConnectWise's own JSON
// message, cleaned and cut, never a response body), on one line and
// bounded; nothing else from the response is added.
func cwText(err error) string {
	return connectwise.Truncate(connectwise.CleanLine(err.Error()), 600)
}

func (a *API) preview(ctx context.Context, partnerID, customerID string) response {
	p, resp := a.lookup(ctx, partnerID)
	if resp != nil {
		return *resp
	}
	s, found, err := a.secrets(ctx, partnerID)
	if err != nil {
		return a.internal(ctx, err)
	}
	if !found {
		return reply(http.StatusConflict, errBody(noKeys.Problem, noKeys.Setting))
	}
	cw, prob := a.client(ctx, p, s)
	if prob != nil {
		return reply(http.StatusConflict, errBody(prob.Problem, prob.Setting))
	}
	mid := contract.Customer{ID: customerID}.ManagedID()
	company, err := (&managedid.Directory{}).Lookup(ctx, cw, mid)
	if errors.Is(err, managedid.ErrNotLinked) {
		return reply(http.StatusConflict, errBody("no ConnectWise company has the managed ID "+mid, "customerId"))
	}
	if err != nil {
		return reply(http.StatusBadGateway, errBody("ConnectWise: "+cwText(err), ""))
	}
	cust, accts, err := a.Usage.Load(ctx, partnerID, customerID)
	if err != nil {
		return a.internal(ctx, err)
	}
	figs := datasync.Aggregate(accts, cust, datasync.Rounding(p.GBRounding))
	res, err := datasync.Sync(ctx, datasync.Request{Partner: p, CW: cw, CompanyID: company.ID, ManagedID: mid, Figures: figs, DryRun: true})
	if err != nil {
		return reply(http.StatusBadGateway, errBody("ConnectWise: "+cwText(err), ""))
	}
	return reply(http.StatusOK, map[string]any{"customerId": customerID, "company": company, "dryRun": true,
		"changes": nonNil(res.Changes), "errors": nonNil(res.Errors), "calls": res.Calls})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// doctor reads ConnectWise and reports, in words, what the guide's setup
// chapters require and is missing.
//
// It reads the partner's secrets first: the webhook signing secrets are
// checked whatever ConnectWise says, and a site the SitePolicy refuses or
// keys bound elsewhere are reported without connecting. A ConnectWise call
// that fails is reported as a problem in ConnectWise's words (see cwText),
// never with its response body.
func (a *API) doctor(ctx context.Context, p *partner.Partner) ([]Problem, error) {
	s, found, err := a.secrets(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	var problems []Problem
	if !found {
		if err := partner.CheckSiteURL(p.SiteURL, a.SitePolicy); err != nil {
			problems = append(problems, Problem{"siteUrl", problemText(err)})
		}
		return append(problems, noKeys), nil
	}
	problems = webhookProblems(s.WebhookSecrets)
	cw, prob := a.client(ctx, p, s)
	if prob != nil {
		return append(problems, *prob), nil
	}
	add := func(setting, format string, args ...any) {
		problems = append(problems, Problem{setting, fmt.Sprintf(format, args...)})
	}
	// cwFailed reports a failed ConnectWise call and ends the checks.
	cwFailed := func(what string, err error) ([]Problem, error) {
		if errors.Is(err, connectwise.ErrUnauthorized) {
			add("secrets", "ConnectWise rejected the credentials while %s (%s): check the company id, the API member's keys and its security role", what, cwText(err))
		} else {
			add("siteUrl", "ConnectWise failed while %s: %s", what, cwText(err))
		}
		return problems, nil
	}
	if board, err := (&tickets.Boards{}).Configured(ctx, cw, p); err == nil {
		problems = append(problems, a.callbackProblems(ctx, cw, p, board.ID)...)
	} else {
		if errors.Is(err, connectwise.ErrUnauthorized) {
			add("secrets", "ConnectWise rejected the credentials (%s): check the company id, the API member's keys and its security role", cwText(err))
			return problems, nil
		}
		if outcome.Of(err).Kind != outcome.KindPermanent {
			add("siteUrl", "ConnectWise could not be reached: %s", cwText(err))
			return problems, nil
		}
		add("board", "%s", cwText(err))
	}
	// Cross-referenced products.
	var idents []any
	for _, svc := range p.Integration.Billing {
		idents = append(idents, p.Products[svc])
	}
	if len(idents) > 0 {
		cond, err := connectwise.Build(connectwise.In("identifier", idents...))
		if err == nil {
			items, _, err := cw.Catalog.List(ctx, &connectwise.ListOptions{Conditions: cond, PageSize: 1000})
			if err != nil {
				return cwFailed("reading the product catalog", err)
			}
			for _, svc := range p.Integration.Billing {
				if !slices.ContainsFunc(items, func(c connectwise.CatalogItem) bool { return strings.EqualFold(c.Identifier, p.Products[svc]) }) {
					add("products."+string(svc), "the cross-referenced product %q does not exist in the ConnectWise catalog (guide step 3): create it or fix the cross-reference", p.Products[svc])
				}
			}
		} else {
			add("products", "a product identifier contains characters ConnectWise conditions cannot carry: %s", cwText(err))
		}
	}
	// Customers that send events: a company with their managed ID, and
	// well-formed additions.
	if a.Customers == nil {
		return problems, nil
	}
	dir := &managedid.Directory{}
	billed := map[string]bool{}
	for _, svc := range p.Integration.Billing {
		billed[strings.ToLower(p.Products[svc])] = true
	}
	for c, err := range a.Customers.Customers(ctx, p.ID) {
		if err != nil {
			return nil, err
		}
		mid := contract.Customer{ID: c.CustomerID}.ManagedID()
		company, err := dir.Lookup(ctx, cw, mid)
		if errors.Is(err, managedid.ErrNotLinked) {
			add("customers."+c.CustomerID, "customer %s sends events but no ConnectWise company has the managed ID %s: add it on the company's Management tab (Workstations and Servers, then Backup Stats)", c.CustomerID, mid)
			continue
		}
		if err != nil {
			return cwFailed("looking up the company with managed ID "+mid, err)
		}
		if len(billed) == 0 {
			continue
		}
		cond, _ := connectwise.Build(connectwise.And(connectwise.Eq("company/id", company.ID), connectwise.Eq("agreementStatus", "Active"), connectwise.Eq("cancelledFlag", false)))
		agrs, _, err := cw.Agreements.List(ctx, &connectwise.ListOptions{Conditions: cond, PageSize: 1000})
		if err != nil {
			return cwFailed("reading the agreements of "+company.Name, err)
		}
		seen := map[string]int{}
		for _, ag := range agrs {
			adds, _, err := cw.Agreements.Additions(ctx, ag.ID, &connectwise.ListOptions{PageSize: 1000})
			if err != nil {
				return cwFailed(fmt.Sprintf("reading the additions of agreement %q", ag.Name), err)
			}
			for _, ad := range adds {
				if ad.Product == nil || !billed[strings.ToLower(ad.Product.Identifier)] || ad.CancelledDate != "" {
					continue
				}
				switch {
				case ad.SerialNumber == "":
					add("customers."+c.CustomerID, "agreement %q of %s has an addition for %s without a serial number: enter %s (guide per-company step 2f)", ag.Name, company.Name, ad.Product.Identifier, mid)
				case ad.SerialNumber == mid:
					seen[strings.ToLower(ad.Product.Identifier)]++
				}
			}
		}
		for prod, n := range seen {
			if n > 1 {
				add("customers."+c.CustomerID, "%s has %d active additions for %s with serial number %s: remove the duplicates so billing is unambiguous", company.Name, n, prod, mid)
			}
		}
	}
	return problems, nil
}
