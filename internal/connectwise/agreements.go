package connectwise

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
)

// AgreementsService handles /finance/agreements and their additions.
type AgreementsService service

// Agreement is a finance agreement. AgreementStatus is Active, Cancelled,
// Expired or Inactive.
type Agreement struct {
	ID              int        `json:"id,omitempty"`
	Name            string     `json:"name,omitempty"`
	Company         *Reference `json:"company,omitempty"`
	AgreementStatus string     `json:"agreementStatus,omitempty"`
	CancelledFlag   bool       `json:"cancelledFlag,omitempty"`
}

// Addition is a billing line of an agreement. BillCustomer is Billable,
// DoNotBill or NoCharge. Quantity is always sent (zero is a real quantity);
// a zero LessIncluded, UnitPrice or UnitCost is left out, so that sending an
// Addition never overwrites them with zero. Change only Quantity (and
// InvoiceDescription) with PatchAddition; never LessIncluded, prices or costs.
type Addition struct {
	ID                 int        `json:"id,omitempty"`
	Product            *Reference `json:"product,omitempty"`
	BillCustomer       string     `json:"billCustomer,omitempty"`
	Quantity           float64    `json:"quantity"`
	LessIncluded       float64    `json:"lessIncluded,omitempty"`
	UnitPrice          float64    `json:"unitPrice,omitempty"`
	UnitCost           float64    `json:"unitCost,omitempty"`
	EffectiveDate      string     `json:"effectiveDate,omitempty"`
	CancelledDate      string     `json:"cancelledDate,omitempty"`
	SerialNumber       string     `json:"serialNumber,omitempty"`
	InvoiceDescription string     `json:"invoiceDescription,omitempty"`
	Description        string     `json:"description,omitempty"`
	AgreementStatus    string     `json:"agreementStatus,omitempty"`
}

const agreementsPath = "finance/agreements"

// List returns one page of agreements. GET /finance/agreements
func (s *AgreementsService) List(ctx context.Context, opts *ListOptions) ([]Agreement, *Response, error) {
	return list[Agreement](ctx, s.client, agreementsPath, opts)
}

// All returns every agreement matching opts, page by page, keeping every
// query parameter on every page. GET /finance/agreements
func (s *AgreementsService) All(ctx context.Context, opts ListOptions) iter.Seq2[Agreement, error] {
	return all[Agreement](ctx, s.client, agreementsPath, opts)
}

// Additions returns one page of an agreement's additions.
// GET /finance/agreements/{id}/additions
func (s *AgreementsService) Additions(ctx context.Context, agreementID int, opts *ListOptions) ([]Addition, *Response, error) {
	if err := checkID("agreement", agreementID); err != nil {
		return nil, nil, err
	}
	return list[Addition](ctx, s.client, fmt.Sprintf("%s/%d/additions", agreementsPath, agreementID), opts)
}

// PatchAddition applies JSON Patch operations to an agreement's addition,
// e.g. []PatchOp{Replace("quantity", 0)}.
// PATCH /finance/agreements/{id}/additions/{additionId}
func (s *AgreementsService) PatchAddition(ctx context.Context, agreementID, additionID int, ops []PatchOp) (*Addition, *Response, error) {
	if err := checkID("agreement", agreementID); err != nil {
		return nil, nil, err
	}
	if err := checkID("addition", additionID); err != nil {
		return nil, nil, err
	}
	if len(ops) == 0 {
		return nil, nil, errors.New("connectwise: Agreements.PatchAddition: no operations")
	}
	return send[Addition](ctx, s.client, http.MethodPatch, fmt.Sprintf("%s/%d/additions/%d", agreementsPath, agreementID, additionID), ops)
}
