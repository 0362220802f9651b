package cwsim

import (
	"math"
	"net/http"
	"slices"
)

// Agreements (read through the API, set up by a person) and their
// additions (read and written through the API).

func init() {
	register("GET /finance/agreements", (*Sim).listAgreements)
	register("GET /finance/agreements/count", (*Sim).countAgreements)
	register("GET /finance/agreements/{id}", (*Sim).getAgreement)
	register("GET /finance/agreements/{id}/additions", (*Sim).listAdditions)
	register("POST /finance/agreements/{id}/additions", (*Sim).postAddition)
	register("GET /finance/agreements/{id}/additions/{additionId}", (*Sim).getAddition)
	register("PUT /finance/agreements/{id}/additions/{additionId}", (*Sim).putAddition)
	register("PATCH /finance/agreements/{id}/additions/{additionId}", (*Sim).patchAddition)
	register("DELETE /finance/agreements/{id}/additions/{additionId}", (*Sim).deleteAddition)
}

var agreementConds = newCondSpec(
	"id number", "name string", "company/id number", "company/identifier string", "company/name string",
	"agreementStatus string", "cancelledFlag bool", "type/id number", "type/name string",
	"startDate date", "endDate date", "noEndingDateFlag bool", "lastUpdated=_info/lastUpdated date",
)

func (s *Sim) listAgreements(q *request) response {
	return listRecords(s, q, "agreement", agreementConds, false, every(func(st *state) []Agreement { return st.agreements }))
}

func (s *Sim) countAgreements(q *request) response {
	return listRecords(s, q, "agreement", agreementConds, true, every(func(st *state) []Agreement { return st.agreements }))
}

func agreementNotFound(id int) response {
	return recordNotFound("Agreement", id)
}

func (s *Sim) getAgreement(q *request) response {
	return getRecord(s, q, "Agreement", func(st *state) []Agreement { return st.agreements })
}

// AddAgreement adds an agreement as a person would. Company is given by id
// or identifier and must exist; Name is required; AgreementStatus defaults
// to Active and must be Active, Cancelled, Expired or Inactive; a Cancelled
// agreement has CancelledFlag set.
func (s *Sim) AddAgreement(a Agreement) (Agreement, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var c checker
	c.required("name", a.Name)
	if c.requiredRef("company", a.Company) {
		s.st.resolveCompany(&c, "company", &a.Company)
	}
	if a.AgreementStatus == "" {
		a.AgreementStatus = AgreementActive
	}
	if !slices.Contains([]string{AgreementActive, AgreementCancelled, AgreementExpired, AgreementInactive}, a.AgreementStatus) {
		c.add(codeInvalidField, "agreementStatus", "%q is not one of Active, Cancelled, Expired, Inactive.", a.AgreementStatus)
	}
	if c.errs != nil {
		return Agreement{}, validationError("agreement", c.errs)
	}
	if a.AgreementStatus == AgreementCancelled {
		a.CancelledFlag = true
	}
	a.ID = s.st.nextID("agreement")
	a.Info = s.newInfo(personIdentifier)
	s.st.agreements = append(s.st.agreements, a)
	return a, nil
}

// SetAgreementStatus changes an agreement's status (and cancelledFlag with
// it), as a person would.
func (s *Sim) SetAgreementStatus(id int, status string) error {
	if !slices.Contains([]string{AgreementActive, AgreementCancelled, AgreementExpired, AgreementInactive}, status) {
		return validationError("agreement", []fieldError{{Message: "agreementStatus " + status + " is not one of Active, Cancelled, Expired, Inactive"}})
	}
	return updateRecord(s, "agreement", id, func(st *state) []Agreement { return st.agreements }, func(a *Agreement) *Info {
		a.AgreementStatus = status
		a.CancelledFlag = status == AgreementCancelled
		return &a.Info
	})
}

// Agreements returns a copy of every agreement.
func (s *Sim) Agreements() []Agreement {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.agreements)
}

// --- additions ---

// Field limits of additions.
const (
	maxAdditionSerialNumber       = 50
	maxAdditionInvoiceDescription = 6000
)

var additionFields = &fieldTable[Addition]{
	resource: "agreementAddition",
	fields: map[string]setter[Addition]{
		"product":            refField(func(a *Addition) *Ref { return &a.Product }),
		"billCustomer":       enumField(func(a *Addition) *string { return &a.BillCustomer }, BillBillable, BillDoNotBill, BillNoCharge),
		"quantity":           numField(func(a *Addition) *float64 { return &a.Quantity }),
		"lessIncluded":       numField(func(a *Addition) *float64 { return &a.LessIncluded }),
		"unitPrice":          numField(func(a *Addition) *float64 { return &a.UnitPrice }),
		"unitCost":           numField(func(a *Addition) *float64 { return &a.UnitCost }),
		"effectiveDate":      dateField(func(a *Addition) *string { return &a.EffectiveDate }),
		"cancelledDate":      dateField(func(a *Addition) *string { return &a.CancelledDate }),
		"serialNumber":       strField(func(a *Addition) *string { return &a.SerialNumber }),
		"invoiceDescription": strField(func(a *Addition) *string { return &a.InvoiceDescription }),
		"description":        strField(func(a *Addition) *string { return &a.Description }),
		"taxableFlag":        boolField(func(a *Addition) *bool { return &a.TaxableFlag }),
	},
	refs:     map[string]bool{"product": true},
	readOnly: []string{"id", "agreementId", "_info", "billedQuantity", "extPrice", "extCost", "agreementStatus"},
	ignored: []string{"uom", "purchaseItemFlag", "specialOrderFlag", "sequenceNumber", "prorateCurrentPeriodFlag",
		"opportunity", "customerDescription", "prorateCost", "prorateCurrentPeriod", "company"},
}

var additionConds = newCondSpec(
	"id number", "product/id number", "product/identifier string", "billCustomer string",
	"agreementStatus string", "effectiveDate date", "cancelledDate date", "quantity number",
	"lastUpdated=_info/lastUpdated date",
)

// checkAddition validates an addition and resolves its product (Sim.mu
// held). serialNumber is deliberately not filterable in conditions (it is
// not confirmed that ConnectWise allows it): clients match it themselves.
func (st *state) checkAddition(a *Addition) []fieldError {
	var c checker
	if c.requiredRef("product", a.Product) {
		st.resolveProduct(&c, "product", &a.Product)
	}
	c.required("billCustomer", a.BillCustomer)
	c.nonNegative("quantity", a.Quantity)
	c.nonNegative("lessIncluded", a.LessIncluded)
	c.maxLen("serialNumber", a.SerialNumber, maxAdditionSerialNumber)
	c.maxLen("invoiceDescription", a.InvoiceDescription, maxAdditionInvoiceDescription)
	if a.EffectiveDate != "" && a.CancelledDate != "" && a.CancelledDate < a.EffectiveDate {
		c.add(codeInvalidField, "cancelledDate", "cancelledDate cannot be before effectiveDate.")
	}
	return c.errs
}

// derive sets the computed fields of an addition of agreement ag.
func (s *Sim) derive(a *Addition, ag Agreement) {
	a.AgreementID = ag.ID
	a.BilledQuantity = math.Max(0, a.Quantity-a.LessIncluded)
	a.ExtPrice = math.Round(a.BilledQuantity*a.UnitPrice*100) / 100
	a.ExtCost = math.Round(a.BilledQuantity*a.UnitCost*100) / 100
	a.AgreementStatus = ag.AgreementStatus
	if a.CancelledDate != "" && a.CancelledDate <= formatTime(s.now()) {
		a.AgreementStatus = AgreementCancelled
	}
}

func (st *state) additionIndex(agreementID, id int) int {
	return slices.IndexFunc(st.additions, func(a Addition) bool { return a.ID == id && a.AgreementID == agreementID })
}

// additionFor finds addition q.ids[1] of agreement q.ids[0]: the indexes of
// the agreement and the addition, or the 404 of whichever is missing.
func (st *state) additionFor(q *request) (ag, i int, nf *response) {
	ag = indexOf(st.agreements, q.ids[0])
	if ag < 0 {
		r := agreementNotFound(q.ids[0])
		return -1, -1, &r
	}
	i = st.additionIndex(q.ids[0], q.ids[1])
	if i < 0 {
		r := additionNotFound(q.ids[1])
		return -1, -1, &r
	}
	return ag, i, nil
}

func additionNotFound(id int) response {
	return recordNotFound("Agreement addition", id)
}

func (s *Sim) listAdditions(q *request) response {
	return listRecords(s, q, additionFields.resource, additionConds, false, func(st *state) ([]Addition, *response) {
		if indexOf(st.agreements, q.ids[0]) < 0 {
			r := agreementNotFound(q.ids[0])
			return nil, &r
		}
		return st.agreementAdditions(q.ids[0]), nil
	})
}

func (st *state) agreementAdditions(agreementID int) []Addition {
	return where(st.additions, func(a Addition) bool { return a.AgreementID == agreementID })
}

func (s *Sim) getAddition(q *request) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, i, nf := s.st.additionFor(q)
	if nf != nil {
		return *nf
	}
	return getOne(q.r, s.st.additions[i])
}

// postAddition answers POST .../additions. unitPrice, unitCost and
// description default to the product's when the body leaves them out.
func (s *Sim) postAddition(q *request) response {
	var a Addition
	body, bad := additionFields.decodeBody(&a, q.body, true)
	if bad != nil {
		return *bad
	}
	_, hasPrice := body["unitPrice"]
	_, hasCost := body["unitCost"]
	_, hasDesc := body["description"]
	s.mu.Lock()
	defer s.mu.Unlock()
	ag := indexOf(s.st.agreements, q.ids[0])
	if ag < 0 {
		return agreementNotFound(q.ids[0])
	}
	a, errs := s.createAddition(s.st.agreements[ag], a, !hasPrice, !hasCost, !hasDesc, apiMemberIdentifier)
	if errs != nil {
		return invalid(additionFields.resource, errs)
	}
	return jsonResp(http.StatusCreated, a)
}

func (s *Sim) createAddition(ag Agreement, a Addition, defPrice, defCost, defDesc bool, by string) (Addition, []fieldError) {
	if errs := s.st.checkAddition(&a); errs != nil {
		return Addition{}, errs
	}
	p := s.st.products[indexOf(s.st.products, a.Product.ID)]
	if defPrice {
		a.UnitPrice = p.Price
	}
	if defCost {
		a.UnitCost = p.Cost
	}
	if defDesc {
		a.Description = p.Description
	}
	a.ID = s.st.nextID("addition")
	s.derive(&a, ag)
	a.Info = s.newInfo(by)
	s.st.additions = append(s.st.additions, a)
	return a, nil
}

func (s *Sim) putAddition(q *request) response {
	var a Addition
	if _, bad := additionFields.decodeBody(&a, q.body, false); bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replaceAddition(q, func(*Addition) []fieldError { return nil }, a)
}

func (s *Sim) patchAddition(q *request) response {
	ops, bad := parsePatch(additionFields.resource, q.body)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replaceAddition(q, func(a *Addition) []fieldError { return additionFields.applyPatch(a, ops) }, Addition{})
}

// replaceAddition stores a PUT body (put) or the stored addition changed by
// patch (Sim.mu held).
func (s *Sim) replaceAddition(q *request, patch func(*Addition) []fieldError, put Addition) response {
	ag, i, nf := s.st.additionFor(q)
	if nf != nil {
		return *nf
	}
	old := s.st.additions[i]
	a := put
	if q.r.Method == http.MethodPatch {
		a = old
		if errs := patch(&a); errs != nil {
			return invalid(additionFields.resource, errs)
		}
	}
	if errs := s.st.checkAddition(&a); errs != nil {
		return invalid(additionFields.resource, errs)
	}
	a.ID, a.Info = old.ID, old.Info
	s.derive(&a, s.st.agreements[ag])
	if a != old {
		s.touch(&a.Info, apiMemberIdentifier)
	}
	s.st.additions[i] = a
	return jsonResp(http.StatusOK, a)
}

func (s *Sim) deleteAddition(q *request) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, i, nf := s.st.additionFor(q)
	if nf != nil {
		return *nf
	}
	s.st.additions = slices.Delete(s.st.additions, i, i+1)
	return noContent()
}

// AddAddition adds an addition to an agreement as a person would, validated
// as the API validates it (product by id or identifier). A zero UnitPrice,
// UnitCost or empty Description takes the product's.
func (s *Sim) AddAddition(agreementID int, a Addition) (Addition, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ag := indexOf(s.st.agreements, agreementID)
	if ag < 0 {
		return Addition{}, errNotFound("agreement", agreementID)
	}
	a, errs := s.createAddition(s.st.agreements[ag], a, a.UnitPrice == 0, a.UnitCost == 0, a.Description == "", personIdentifier)
	if errs != nil {
		return Addition{}, validationError("agreement addition", errs)
	}
	return a, nil
}

// Additions returns a copy of an agreement's additions, in id order.
func (s *Sim) Additions(agreementID int) []Addition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.agreementAdditions(agreementID)
}

// Addition returns a copy of one addition; false if there is none.
func (s *Sim) Addition(id int) (Addition, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := indexOf(s.st.additions, id)
	if i < 0 {
		return Addition{}, false
	}
	return s.st.additions[i], true
}

// SetAdditionQuantity changes an addition's quantity as a person would in
// ConnectWise (the change is stamped as the person's).
func (s *Sim) SetAdditionQuantity(id int, q float64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := indexOf(s.st.additions, id)
	if i < 0 {
		return errNotFound("agreement addition", id)
	}
	s.st.additions[i].Quantity = q
	return nil
}
