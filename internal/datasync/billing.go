package datasync

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// agreementAddition is an addition with the agreement it belongs to.
type agreementAddition struct {
	agreementID int
	connectwise.Addition
}

// billed is one billed service that needs an addition.
type billed struct {
	service partner.BillingService
	product string
}

// billing sets the quantity (and the invoice description) of each billed
// service's addition. An addition matches a service when its product
// identifier is the service's product and its serial number is the managed
// ID (both compared ignoring case and surrounding spaces, as a person types
// them); only additions of the company's active, uncancelled agreements are
// read. Services that were not measured are skipped without a word.
func (s *syncer) billing(ctx context.Context) error {
	r := s.r
	var services []billed
	users := map[string][]partner.BillingService{} // product → services billing it
	for _, svc := range r.Partner.Integration.Billing {
		if slices.ContainsFunc(services, func(b billed) bool { return b.service == svc }) {
			continue
		}
		if !r.Figures.Measured[svc] {
			continue
		}
		product := strings.TrimSpace(r.Partner.Products[svc])
		if product == "" {
			s.fail(WhatBilling, outcome.CodeProductNotMapped,
				fmt.Sprintf("billing for %s is on but no ConnectWise product is cross-referenced to it", svc),
				fmt.Sprintf("set the product of %s in the partner's products (the guide's Figure 8), or stop billing it", svc))
			continue
		}
		key := strings.ToLower(product)
		users[key] = append(users[key], svc)
		services = append(services, billed{service: svc, product: product})
	}
	services = slices.DeleteFunc(services, func(b billed) bool {
		others := users[strings.ToLower(b.product)]
		if len(others) < 2 {
			return false
		}
		s.fail(WhatBilling, outcome.CodeProductShared,
			fmt.Sprintf("product %s is cross-referenced to %d billed services (%s), so %s's quantity is ambiguous", b.product, len(others), joinServices(others), b.service),
			"give each billed service its own ConnectWise product in the partner's products (the guide's Figure 8), then reprocess")
		return true
	})
	if len(services) == 0 {
		return nil
	}

	additions, agreements, err := s.readAdditions(ctx)
	if err != nil {
		return err
	}
	var missing []billed
	for _, b := range services {
		var active, cancelled []agreementAddition
		for _, a := range additions {
			if a.Product == nil || !strings.EqualFold(strings.TrimSpace(a.Product.Identifier), b.product) ||
				!strings.EqualFold(strings.TrimSpace(a.SerialNumber), r.ManagedID) {
				continue
			}
			if s.cancelled(a.Addition) {
				cancelled = append(cancelled, a)
			} else {
				active = append(active, a)
			}
		}
		switch {
		case len(active) == 1:
			if err := s.updateAddition(ctx, b, active[0]); err != nil {
				return err
			}
		case len(active) > 1:
			s.fail(WhatBilling, outcome.CodeAdditionDuplicate,
				fmt.Sprintf("%d active additions (%s) bill product %s with serial number %s for %s; none was changed", len(active), describeAdditions(active), b.product, r.ManagedID, b.service),
				fmt.Sprintf("remove (or cancel) all but one of the additions for product %s with serial number %s on the company's agreements, then reprocess", b.product, r.ManagedID))
		case len(cancelled) > 0:
			s.fail(WhatBilling, outcome.CodeAdditionCancelled,
				fmt.Sprintf("the only addition for product %s with serial number %s (%s) is cancelled, so %s is not billed", b.product, r.ManagedID, describeAdditions(cancelled), b.service),
				fmt.Sprintf("un-cancel the addition (clear its cancelled date) or add a new addition for product %s with serial number %s to the company's active agreement, then reprocess", b.product, r.ManagedID))
		default:
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return s.reportMissing(ctx, missing, agreements)
	}
	return nil
}

// readAdditions reads the company's active, uncancelled agreements (one
// call) and their additions (one call per agreement).
func (s *syncer) readAdditions(ctx context.Context) ([]agreementAddition, []connectwise.Agreement, error) {
	r := s.r
	cond, err := connectwise.Build(connectwise.And(
		connectwise.Eq("company/id", r.CompanyID),
		connectwise.Eq("agreementStatus", "Active"),
		connectwise.Eq("cancelledFlag", false),
	))
	if err != nil {
		return nil, nil, fmt.Errorf("agreement conditions: %w", err)
	}
	agreements, err := listAll(s, connectwise.ListOptions{Conditions: cond, OrderBy: "id asc"}, func(o *connectwise.ListOptions) ([]connectwise.Agreement, *connectwise.Response, error) {
		return r.CW.Agreements.List(ctx, o)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read the active agreements of company %d: %w", r.CompanyID, err)
	}
	var out []agreementAddition
	for _, ag := range agreements {
		adds, err := listAll(s, connectwise.ListOptions{OrderBy: "id asc"}, func(o *connectwise.ListOptions) ([]connectwise.Addition, *connectwise.Response, error) {
			return r.CW.Agreements.Additions(ctx, ag.ID, o)
		})
		if err != nil {
			return nil, nil, fmt.Errorf("read the additions of agreement %d: %w", ag.ID, err)
		}
		for _, a := range adds {
			out = append(out, agreementAddition{agreementID: ag.ID, Addition: a})
		}
	}
	return out, agreements, nil
}

// cancelled tells whether an addition no longer bills: ConnectWise reports
// it Cancelled, or its cancelled date has passed (an unreadable date counts
// as passed: such an addition is not touched).
func (s *syncer) cancelled(a connectwise.Addition) bool {
	if strings.EqualFold(a.AgreementStatus, "Cancelled") {
		return true
	}
	if a.CancelledDate == "" {
		return false
	}
	t, err := time.Parse(time.RFC3339, a.CancelledDate)
	return err != nil || !t.After(s.now())
}

// updateAddition sets the addition's quantity, and its invoice description
// when the partner has them updated, in one PATCH, and only what differs.
// A field that differs from what the service last wrote (Request.Written)
// is a person's edit: a Drift, overwritten unless the partner respects
// manual edits.
func (s *syncer) updateAddition(ctx context.Context, b billed, a agreementAddition) error {
	r := s.r
	target := fmt.Sprintf("addition %d (%s) on agreement %d", a.ID, b.product, a.agreementID)
	ref := &AdditionRef{AgreementID: a.agreementID, AdditionID: a.ID, Product: b.product, Service: b.service}
	var ops []connectwise.PatchOp
	var changes []Change
	var held []Held
	field := func(what, name string, current, want any, same func(a, b string) bool) {
		key := FieldKey(a.agreementID, a.ID, name)
		cur, meas := ValueText(current), ValueText(want)
		if last, ok := r.Written[key]; ok && !same(last, cur) {
			d := Drift{Addition: *ref, Field: name, Written: last, Found: cur, Measured: meas, Kept: r.Partner.Integration.RespectManualEdits}
			s.res.Drifts = append(s.res.Drifts, d)
			if d.Kept {
				return
			}
		}
		held = append(held, Held{Addition: *ref, Field: name, Value: meas})
		if same(cur, meas) {
			return
		}
		ops = append(ops, connectwise.Replace(name, want))
		changes = append(changes, Change{What: what, Target: target, Field: name, From: current, To: want, Addition: ref, Note: r.Note})
	}
	field(WhatBilling, "quantity", a.Quantity, r.Figures.Quantities[b.service], sameQuantity)
	if r.Partner.Integration.UpdateInvoiceDescriptions {
		field(WhatDescription, "invoiceDescription", a.InvoiceDescription, InvoiceDescription(b.service, r.Figures), sameText)
	}
	if len(ops) > 0 && !r.DryRun {
		err := s.call(func() error {
			_, _, err := r.CW.Agreements.PatchAddition(ctx, a.agreementID, a.ID, ops)
			return err
		})
		if err != nil {
			return s.writeFailed(WhatBilling, target, err)
		}
	}
	s.res.Changes = append(s.res.Changes, changes...)
	s.res.Held = append(s.res.Held, held...)
	return nil
}

// ValueText renders a field's value as the audit trail keeps it (numbers
// without trailing zeros, text as it is).
func ValueText(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		return x
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// sameQuantity compares two quantities as text (an unreadable one differs).
func sameQuantity(a, b string) bool {
	x, errA := strconv.ParseFloat(a, 64)
	y, errB := strconv.ParseFloat(b, 64)
	return errA == nil && errB == nil && sameFloat(x, y)
}

func sameText(a, b string) bool { return normalizeText(a) == normalizeText(b) }

// reportMissing reports services without an addition, after one catalog
// call that tells a missing addition from a product that does not exist.
func (s *syncer) reportMissing(ctx context.Context, missing []billed, agreements []connectwise.Agreement) error {
	r := s.r
	ids := make([]any, 0, len(missing))
	for _, b := range missing {
		ids = append(ids, b.product)
	}
	cond, err := connectwise.Build(connectwise.In("identifier", ids...))
	if err != nil {
		// An identifier that cannot be put in a condition cannot be a
		// product either: say so for each.
		for _, b := range missing {
			s.productNotFound(b)
		}
		return nil
	}
	products, err := listAll(s, connectwise.ListOptions{Conditions: cond}, func(o *connectwise.ListOptions) ([]connectwise.CatalogItem, *connectwise.Response, error) {
		return r.CW.Catalog.List(ctx, o)
	})
	if err != nil {
		return fmt.Errorf("read the catalog products %v: %w", ids, err)
	}
	for _, b := range missing {
		i := slices.IndexFunc(products, func(p connectwise.CatalogItem) bool {
			return strings.EqualFold(strings.TrimSpace(p.Identifier), b.product)
		})
		if i < 0 {
			s.productNotFound(b)
			continue
		}
		where := "the company's active agreement"
		if len(agreements) == 0 {
			where = fmt.Sprintf("an active agreement of company %d (it has none: create one first)", r.CompanyID)
		}
		note := ""
		if products[i].InactiveFlag {
			note = fmt.Sprintf(" (product %s is inactive in the catalog: activate it too)", b.product)
		}
		s.fail(WhatBilling, outcome.CodeAdditionMissing,
			fmt.Sprintf("no active addition bills product %s with serial number %s, so %s (%s) is not billed", b.product, r.ManagedID, b.service, formatCount(r.Figures.Quantities[b.service])),
			fmt.Sprintf("add an addition for product %s with serial number %s to %s (the guide's per-company step 2)%s, then reprocess", b.product, r.ManagedID, where, note))
	}
	return nil
}

func (s *syncer) productNotFound(b billed) {
	s.fail(WhatBilling, outcome.CodeProductNotFound,
		fmt.Sprintf("product %s, cross-referenced to %s, is not in the ConnectWise catalog", b.product, b.service),
		fmt.Sprintf("create product %s in the ConnectWise catalog or correct the product of %s in the partner's products (the guide's Figure 8), then reprocess", b.product, b.service))
}

func describeAdditions(as []agreementAddition) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = fmt.Sprintf("addition %d on agreement %d", a.ID, a.agreementID)
	}
	return strings.Join(parts, ", ")
}

func joinServices(ss []partner.BillingService) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ", ")
}

// normalizeText makes a stored description comparable with a computed one:
// line ends as \n, no trailing spaces.
func normalizeText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.TrimRight(s, " \t\n")
}
