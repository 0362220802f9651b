// Package datasync pushes one customer's measured figures into ConnectWise:
// the guide's "populating of backup statistics for use by ConnectWise's
// executive management reports" and its "automated billing … eFolder
// automatically updates the quantity of additions on each agreement".
//
// Sync does three things for one company, each switched on by the partner:
//
//   - Backup statistics: the company's management summary row for the
//     managed ID EFS-<customer id> and device type BackupStats (backup jobs
//     and machine counts), and per account a configuration of type "Backup
//     Stats" (successes, failures, last backup date, billable GB) whose
//     serial number is "EFS-<customer id>/<account id>".
//   - Billing: for each billed service of the guide's Figure 8, the quantity
//     of the one active addition whose product is the service's
//     cross-referenced product and whose serial number is the managed ID.
//     lessIncluded, prices and costs are never touched.
//   - Invoice descriptions: the same addition's invoiceDescription, listing
//     the accounts counted (see InvoiceDescription).
//
// It reads first and writes only what differs from ConnectWise's current
// values, so a sync with nothing new makes only reads: the management rows
// (1 call), the customer's configurations (1), its active agreements (1)
// and their additions (1 per agreement). The configuration type is read only
// when a configuration must be created, the catalog only when a service has
// no addition. Problems a person must fix in ConnectWise (a missing,
// duplicate or cancelled addition, a product that does not exist, a change
// ConnectWise rejects) are reported per item in Result.Errors, with a code
// and a remedy, and the rest of the sync goes ahead.
package datasync

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// What a Change or SyncError is about.
const (
	WhatStatistics    = "statistics"
	WhatConfiguration = "configuration"
	WhatBilling       = "billing"
	WhatDescription   = "description"
)

// ConfigurationTypeName is the configuration type of the per-account
// configurations (the guide's Figure 8, "Configuration Type").
const ConfigurationTypeName = "Backup Stats"

// floatTolerance: ConnectWise keeps quantities and GB with two decimals; a
// smaller difference is not a change.
const floatTolerance = 0.005

// pageSize is asked of every list call (ConnectWise's maximum), so that a
// customer's records come in one call.
const pageSize = 1000

// Request is the sync of one customer.
type Request struct {
	// Partner holds the Integration switches and the product cross reference.
	Partner *partner.Partner
	// CW is the partner's ConnectWise client.
	CW *connectwise.Client
	// CompanyID is the ConnectWise company linked to the customer.
	CompanyID int
	// ManagedID is "EFS-<customer id>".
	ManagedID string
	// Figures are the customer's figures (Aggregate).
	Figures Figures
	// DryRun computes the Changes (reading ConnectWise) without writing.
	DryRun bool
	// Now is the clock that decides whether an addition's cancelled date has
	// passed; default time.Now.
	Now func() time.Time
	// Written is the last value the service wrote to each addition field,
	// by FieldKey (the audit trail's baselines; nil: none known). A field
	// whose ConnectWise value differs from it was edited by a person: a
	// Drift. The measured figure is written over it, unless the partner has
	// Integration.RespectManualEdits, which leaves the person's value.
	Written map[string]string
	// Note, when set, is said of every billing change (e.g. why a removed
	// customer's quantities go to zero); the audit trail records it.
	Note string
}

// FieldKey names one field of one agreement addition, the key of
// Request.Written and Result.Held.
func FieldKey(agreementID, additionID int, field string) string {
	return fmt.Sprintf("%d#%d#%s", agreementID, additionID, field)
}

// Change is one field written (or, in a dry run, that would be written).
// A created record gives one Change per field it is created with, each with
// Created set and From nil.
type Change struct {
	// What is "statistics", "configuration", "billing" or "description".
	What string
	// Target names the record, e.g. "addition 1234 (EFS-SELECT-GB) on
	// agreement 55"; a created record is named without its id ("new
	// configuration EFS-1001/ACME-SRV01"), so a dry run names it the same.
	Target   string
	Field    string
	From, To any
	Created  bool
	// Addition names the agreement addition a billing or description change
	// is about (nil for other changes): what the audit trail records.
	Addition *AdditionRef
	// Note is Request.Note, on billing and description changes.
	Note string
}

// Held is one addition field's value after a sync.
type Held struct {
	Addition AdditionRef
	Field    string
	Value    string
}

// Key is the field's FieldKey.
func (h Held) Key() string { return FieldKey(h.Addition.AgreementID, h.Addition.AdditionID, h.Field) }

// Drift is a person's edit found in an addition field: ConnectWise held
// Found where the service last wrote Written.
type Drift struct {
	Addition AdditionRef
	Field    string
	Written  string
	Found    string
	Measured string
	// Kept tells that the person's value was left (RespectManualEdits);
	// otherwise Measured replaced it.
	Kept bool
}

// AdditionRef identifies an agreement addition and what it bills.
type AdditionRef struct {
	AgreementID, AdditionID int
	Product                 string
	Service                 partner.BillingService
}

// SyncError is a problem with one item that a person fixes (in ConnectWise
// or in the partner's settings); nothing was changed for that item.
type SyncError struct {
	// What is "statistics", "configuration", "billing" or "description".
	What string
	// Code is an outcome code, e.g. outcome.CodeAdditionMissing.
	Code    string
	Message string
	// Remedy says what to do, in words.
	Remedy string
	// ConnectWiseMessage is ConnectWise's own error text, when it refused.
	ConnectWiseMessage string
}

// Result is what a sync did.
type Result struct {
	Changes []Change
	Errors  []SyncError
	Drifts  []Drift
	// Held is the value each addition field the service manages holds
	// after the sync, written or found equal to the measured figure (a field
	// whose person's edit was kept is not in it): the baselines the next
	// sync compares with.
	Held []Held
	// Calls counts the ConnectWise calls made, reads included (not the
	// client's own retries of a call).
	Calls int
}

// Sync brings the customer's statistics, configurations, billing quantities
// and invoice descriptions in ConnectWise in line with r.Figures.
//
// The error is only for what may pass by itself or is unexpected (a read
// that failed, ConnectWise unavailable, refused credentials): callers
// classify it with outcome.Of. The Result holds what was done before it.
// Per-item problems go to Result.Errors.
func Sync(ctx context.Context, r Request) (Result, error) {
	s := &syncer{r: r, now: time.Now}
	if r.Now != nil {
		s.now = r.Now
	}
	switch {
	case r.Partner == nil:
		return s.res, errors.New("datasync: no partner")
	case r.CW == nil:
		return s.res, errors.New("datasync: no ConnectWise client")
	case r.CompanyID <= 0:
		return s.res, fmt.Errorf("datasync: company id %d is not a ConnectWise company id", r.CompanyID)
	case strings.TrimSpace(r.ManagedID) == "":
		return s.res, errors.New("datasync: empty managed ID")
	}
	if r.Partner.Integration.UpdateBackupStatistics {
		if err := s.statistics(ctx); err != nil {
			return s.res, err
		}
		if err := s.configurations(ctx); err != nil {
			return s.res, err
		}
	}
	if len(r.Partner.Integration.Billing) > 0 {
		if err := s.billing(ctx); err != nil {
			return s.res, err
		}
	}
	return s.res, nil
}

// syncer is one Sync.
type syncer struct {
	r   Request
	now func() time.Time
	res Result
}

// call counts and makes one ConnectWise call.
func (s *syncer) call(f func() error) error {
	s.res.Calls++
	return f()
}

func (s *syncer) change(c Change) { s.res.Changes = append(s.res.Changes, c) }

func (s *syncer) fail(what, code, message, remedy string) {
	s.res.Errors = append(s.res.Errors, SyncError{What: what, Code: code, Message: message, Remedy: remedy})
}

// writeFailed records a write ConnectWise refused for good (a 4xx other
// than 401/403/408/429) as the item's error and returns nil; any other
// error is returned, to end the sync.
func (s *syncer) writeFailed(what, target string, err error) error {
	if !connectwise.IsPermanent(err) || errors.Is(err, connectwise.ErrUnauthorized) {
		return fmt.Errorf("%s: %w", target, err)
	}
	s.res.Errors = append(s.res.Errors, SyncError{
		What:               what,
		Code:               outcome.CodeRejected,
		Message:            fmt.Sprintf("ConnectWise refused the change of %s: %v", target, err),
		Remedy:             fmt.Sprintf("read ConnectWise's message, fix %s (or the setting it names) in ConnectWise, then reprocess", target),
		ConnectWiseMessage: outcome.ConnectWiseMessage(err),
	})
	return nil
}

// listAll reads every page of a list, one counted call per page.
func listAll[T any](s *syncer, opts connectwise.ListOptions, page func(*connectwise.ListOptions) ([]T, *connectwise.Response, error)) ([]T, error) {
	opts.PageSize, opts.Page = pageSize, 1
	var out []T
	for {
		var items []T
		var resp *connectwise.Response
		err := s.call(func() (err error) {
			items, resp, err = page(&opts)
			return err
		})
		if err != nil {
			return out, err
		}
		out = append(out, items...)
		next := resp.NextPage
		if next == 0 && len(resp.Header.Values("Link")) == 0 && len(items) >= opts.PageSize {
			next = opts.Page + 1 // no Link header: a full page may have a successor
		}
		if next <= opts.Page || len(items) == 0 {
			return out, nil
		}
		opts.Page = next
	}
}

func sameFloat(a, b float64) bool { return math.Abs(a-b) < floatTolerance }

// round2 rounds to the two decimals ConnectWise keeps.
func round2(x float64) float64 { return math.Round(x*100) / 100 }
