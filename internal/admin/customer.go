package admin

// Reads of a partner's customers for the operator console (and scripts):
//
//	GET /v1/admin/partners/{id}/customers        the customers, pending first, with their sync window
//	GET /v1/admin/partners/{id}/customers/{cid}  one customer: its usage state, accounts, figures and sync window
//
// Both read what packages usage and syncslot store; nothing is sent to
// ConnectWise (the preview does that).

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/efs-cw/backupbridge/internal/datasync"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/syncslot"
	"github.com/efs-cw/backupbridge/internal/usage"
)

// maxListedCustomers bounds the customer list (more: "more": true).
const maxListedCustomers = 2000

// SyncWindow is a customer's 12-hour window as stored (package syncslot).
type SyncWindow struct {
	// LastSyncAt is when the last completed sync started (absent: never).
	LastSyncAt time.Time `json:"lastSyncAt,omitzero"`
	// Pending: a change waits for the window to open.
	Pending      bool      `json:"pending"`
	PendingSince time.Time `json:"pendingSince,omitzero"`
	// SyncingUntil: a sync holds the slot until then (absent: none).
	SyncingUntil time.Time `json:"syncingUntil,omitzero"`
	// WindowHours is the partner's window (syncWindowHours, default 12).
	WindowHours int `json:"windowHours"`
	// OpensAt is when the next sync may start (absent: now).
	OpensAt time.Time `json:"opensAt,omitzero"`
	// Open: an event arriving now would be synced at once.
	Open bool `json:"open"`
}

func syncWindow(st syncslot.State, window time.Duration, now time.Time) SyncWindow {
	w := SyncWindow{LastSyncAt: st.LastSyncAt, Pending: st.Pending, PendingSince: st.PendingSince,
		WindowHours: int(window / time.Hour), Open: st.IsOpen(now, window)}
	if !st.Pending {
		w.PendingSince = time.Time{}
	}
	if st.LeaseUntil.After(now) {
		w.SyncingUntil = st.LeaseUntil
	}
	if o := st.OpenAt(window); o.After(now) {
		w.OpensAt = o
	}
	return w
}

// ListedCustomer is one customer of GET …/customers.
type ListedCustomer struct {
	CustomerID string     `json:"customerId"`
	Sync       SyncWindow `json:"sync"`
}

// partnerForRead reads the partner for a read-only route: 404 when there is
// none; for a stored partner that does not decode, the settings that do
// (its sync window and rounding may then be the defaults).
func (a *API) partnerForRead(ctx context.Context, id string) (*partner.Partner, *response) {
	p, err := a.Partners.Get(ctx, id)
	var ue *partner.UnreadableError
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, partner.ErrNotFound):
		resp := reply(http.StatusNotFound, errBody("no partner "+id, ""))
		return nil, &resp
	case errors.As(err, &ue):
		return partial(ue), nil
	default:
		resp := a.internal(ctx, err)
		return nil, &resp
	}
}

func (a *API) customers(ctx context.Context, partnerID string) response {
	p, resp := a.partnerForRead(ctx, partnerID)
	if resp != nil {
		return *resp
	}
	if a.Customers == nil {
		return a.internal(ctx, errors.New("admin: no customer store"))
	}
	window, now := p.SyncWindow(), a.now()
	out := []ListedCustomer{}
	more := false
	for c, err := range a.Customers.Customers(ctx, partnerID) {
		if err != nil {
			return a.internal(ctx, err)
		}
		if len(out) == maxListedCustomers {
			more = true
			break
		}
		out = append(out, ListedCustomer{CustomerID: c.CustomerID, Sync: syncWindow(c.State, window, now)})
	}
	return reply(http.StatusOK, map[string]any{"customers": out, "more": more})
}

// Quantity is one measured billing quantity of a customer.
type Quantity struct {
	Service partner.BillingService `json:"service"`
	// Product is the cross-referenced ConnectWise product (absent: none).
	Product  string  `json:"product,omitempty"`
	Quantity float64 `json:"quantity"`
	// Billed: the partner bills this service (integration.billing).
	Billed bool `json:"billed"`
	// FromSnapshot: from the customer's usage.snapshot, not its accounts.
	FromSnapshot bool `json:"fromSnapshot,omitempty"`
}

// CustomerFigures are what a sync would push now, as computed from the
// stored state (datasync.Aggregate with the partner's rounding).
type CustomerFigures struct {
	Period       string     `json:"period,omitempty"`
	Successes    int        `json:"successes"`
	Failures     int        `json:"failures"`
	Servers      int        `json:"servers"`
	Workstations int        `json:"workstations"`
	Quantities   []Quantity `json:"quantities"`
}

func (a *API) customer(ctx context.Context, partnerID, customerID string) response {
	p, resp := a.partnerForRead(ctx, partnerID)
	if resp != nil {
		return *resp
	}
	if a.Usage == nil || a.Customers == nil {
		return a.internal(ctx, errors.New("admin: no usage or customer store"))
	}
	st, err := a.Customers.State(ctx, partnerID, customerID)
	if err != nil {
		return a.internal(ctx, err)
	}
	if !st.Registered {
		return reply(http.StatusNotFound, errBody("no customer "+customerID+" of partner "+partnerID+" (a customer appears with its first event)", "customerId"))
	}
	cust, accts, err := a.Usage.Load(ctx, partnerID, customerID)
	if err != nil {
		return a.internal(ctx, err)
	}
	figs := datasync.Aggregate(accts, cust, datasync.Rounding(p.GBRounding))
	f := CustomerFigures{Period: figs.Period, Successes: figs.Successes, Failures: figs.Failures,
		Servers: figs.Servers, Workstations: figs.Workstations, Quantities: []Quantity{}}
	for _, svc := range partner.BillingServices {
		if !figs.Measured[svc] {
			continue
		}
		f.Quantities = append(f.Quantities, Quantity{Service: svc, Product: p.Products[svc], Quantity: figs.Quantities[svc],
			Billed: slices.Contains(p.Integration.Billing, svc), FromSnapshot: figs.FromSnapshot[svc]})
	}
	if accts == nil {
		accts = []usage.Account{}
	}
	return reply(http.StatusOK, map[string]any{
		"customer": cust, "accounts": accts, "figures": f,
		"sync": syncWindow(st, p.SyncWindow(), a.now()),
	})
}
