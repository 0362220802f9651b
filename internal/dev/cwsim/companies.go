package cwsim

import (
	"fmt"
	"net/http"
	"slices"
)

// Companies, their management summary rows (the Managed ID entries of the
// Management tab) and the management IT solutions.

func init() {
	register("GET /company/companies", (*Sim).listCompanies)
	register("GET /company/companies/count", (*Sim).countCompanies)
	register("GET /company/companies/{id}", (*Sim).getCompany)
	register("GET /company/companies/{id}/managementSummaryReports", (*Sim).listSummaries)
	register("POST /company/companies/{id}/managementSummaryReports", (*Sim).postSummary)
	register("GET /company/companies/{id}/managementSummaryReports/{reportId}", (*Sim).getSummary)
	register("PUT /company/companies/{id}/managementSummaryReports/{reportId}", (*Sim).putSummary)
	register("PATCH /company/companies/{id}/managementSummaryReports/{reportId}", (*Sim).patchSummary)
	register("DELETE /company/companies/{id}/managementSummaryReports/{reportId}", (*Sim).deleteSummary)
	register("GET /company/managementItSolutions", (*Sim).listSolutions)
	register("POST /company/managementItSolutions", (*Sim).postSolution)
	register("GET /company/managementItSolutions/{id}", (*Sim).getSolution)
}

// Field limits of companies (ConnectWise's company identifier is at most 30
// characters, its name at most 50).
const (
	maxCompanyIdentifier = 30
	maxCompanyName       = 50
)

var companyConds = newCondSpec(
	"id number", "identifier string", "name string", "status/id number", "status/name string",
	"deletedFlag bool", "lastUpdated=_info/lastUpdated date", "dateEntered=_info/dateEntered date",
)

func (s *Sim) listCompanies(q *request) response {
	return listRecords(s, q, "company", companyConds, false, every(func(st *state) []Company { return st.companies }))
}

func (s *Sim) countCompanies(q *request) response {
	return listRecords(s, q, "company", companyConds, true, every(func(st *state) []Company { return st.companies }))
}

func (s *Sim) getCompany(q *request) response {
	return getRecord(s, q, "Company", func(st *state) []Company { return st.companies })
}

// AddCompany adds a company as a person would. ID is assigned; Status
// defaults to {id 1, "Active"}. It panics when the identifier or the name is
// longer than ConnectWise allows (30 and 50 characters): ConnectWise refuses
// such a company, so a test or demo that adds one would test a site that
// cannot exist (code that builds names must stay within the limits).
func (s *Sim) AddCompany(c Company) Company {
	var ck checker
	ck.maxLen("identifier", c.Identifier, maxCompanyIdentifier)
	ck.maxLen("name", c.Name, maxCompanyName)
	if ck.errs != nil {
		panic(fmt.Sprintf("cwsim: AddCompany: %v", validationError("company", ck.errs)))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.ID = s.st.nextID("company")
	if c.Status.ID == 0 {
		c.Status = Ref{ID: 1, Name: "Active"}
	}
	c.Info = s.newInfo(personIdentifier)
	s.st.companies = append(s.st.companies, c)
	return c
}

// SetCompanyDeleted sets or clears a company's deletedFlag.
func (s *Sim) SetCompanyDeleted(id int, deleted bool) error {
	return updateRecord(s, "company", id, func(st *state) []Company { return st.companies }, func(c *Company) *Info {
		c.DeletedFlag = deleted
		return &c.Info
	})
}

// Companies returns a copy of every company, in id order.
func (s *Sim) Companies() []Company {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.companies)
}

// --- management summary rows ---

var summaryFields = &fieldTable[ManagementSummary]{
	resource: "companyManagementSummary",
	fields: map[string]setter[ManagementSummary]{
		"groupIdentifier":      strField(func(m *ManagementSummary) *string { return &m.GroupIdentifier }),
		"managementSolution":   refField(func(m *ManagementSummary) *Ref { return &m.ManagementSolution }),
		"deviceType":           enumField(func(m *ManagementSummary) *string { return &m.DeviceType }, DeviceTypeWorkstationsAndServers, DeviceTypeBackupStats, DeviceTypeServers, DeviceTypeWorkstations),
		"agreement":            refField(func(m *ManagementSummary) *Ref { return &m.Agreement }),
		"successfulBackupJobs": intField(func(m *ManagementSummary) *int { return &m.SuccessfulBackupJobs }),
		"failedBackupJobs":     intField(func(m *ManagementSummary) *int { return &m.FailedBackupJobs }),
		"totalServers":         intField(func(m *ManagementSummary) *int { return &m.TotalServers }),
		"totalWorkstations":    intField(func(m *ManagementSummary) *int { return &m.TotalWorkstations }),
		"totalManagedMachines": intField(func(m *ManagementSummary) *int { return &m.TotalManagedMachines }),
		"serversDiskSpaceLow":  intField(func(m *ManagementSummary) *int { return &m.ServersDiskSpaceLow }),
		"totalNotifications":   intField(func(m *ManagementSummary) *int { return &m.TotalNotifications }),
		"alertsGenerated":      intField(func(m *ManagementSummary) *int { return &m.AlertsGenerated }),
	},
	refs:     map[string]bool{"managementSolution": true, "agreement": true, "company": true},
	readOnly: []string{"id", "company", "_info"},
}

var summaryConds = newCondSpec(
	"id number", "groupIdentifier string", "managementSolution/id number", "managementSolution/name string",
	"deviceType string", "agreement/id number", "company/id number",
)

// maxGroupIdentifier is the longest managed ID.
const maxGroupIdentifier = 100

// checkSummary validates a row of company companyID and resolves its
// references (Sim.mu held). managementSolution and deviceType are required,
// as they are in ConnectWise's Management tab.
func (st *state) checkSummary(m *ManagementSummary, companyID int) []fieldError {
	var c checker
	if c.required("groupIdentifier", m.GroupIdentifier) {
		c.maxLen("groupIdentifier", m.GroupIdentifier, maxGroupIdentifier)
	}
	if c.requiredRef("managementSolution", m.ManagementSolution) {
		st.resolveSolution(&c, "managementSolution", &m.ManagementSolution)
	}
	c.required("deviceType", m.DeviceType)
	if m.Agreement != (Ref{}) {
		st.resolveAgreement(&c, "agreement", &m.Agreement, companyID)
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"successfulBackupJobs", m.SuccessfulBackupJobs}, {"failedBackupJobs", m.FailedBackupJobs},
		{"totalServers", m.TotalServers}, {"totalWorkstations", m.TotalWorkstations},
		{"totalManagedMachines", m.TotalManagedMachines}, {"serversDiskSpaceLow", m.ServersDiskSpaceLow},
		{"totalNotifications", m.TotalNotifications}, {"alertsGenerated", m.AlertsGenerated},
	} {
		c.nonNegative(f.name, float64(f.v))
	}
	return c.errs
}

// companyFor returns the company of a sub-resource path, or a 404.
func (st *state) companyFor(id int) (Company, *response) {
	i := indexOf(st.companies, id)
	if i < 0 {
		r := recordNotFound("Company", id)
		return Company{}, &r
	}
	return st.companies[i], nil
}

// summaryFor returns the index of row q.ids[1] of company q.ids[0], or a 404.
func (st *state) summaryFor(q *request) (int, *response) {
	i := slices.IndexFunc(st.summaries, func(m ManagementSummary) bool { return m.ID == q.ids[1] && m.Company.ID == q.ids[0] })
	if i < 0 {
		r := recordNotFound("Management summary report", q.ids[1])
		return -1, &r
	}
	return i, nil
}

func (s *Sim) listSummaries(q *request) response {
	return listRecords(s, q, "companyManagementSummary", summaryConds, false, func(st *state) ([]ManagementSummary, *response) {
		if _, nf := st.companyFor(q.ids[0]); nf != nil {
			return nil, nf
		}
		return st.companySummaries(q.ids[0]), nil
	})
}

func (s *Sim) getSummary(q *request) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, nf := s.st.summaryFor(q)
	if nf != nil {
		return *nf
	}
	return getOne(q.r, s.st.summaries[i])
}

func (s *Sim) postSummary(q *request) response {
	var m ManagementSummary
	if _, bad := summaryFields.decodeBody(&m, q.body, true); bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	co, nf := s.st.companyFor(q.ids[0])
	if nf != nil {
		return *nf
	}
	if errs := s.st.checkSummary(&m, co.ID); errs != nil {
		return invalid(summaryFields.resource, errs)
	}
	m = s.storeNewSummary(co, m, apiMemberIdentifier)
	return jsonResp(http.StatusCreated, m)
}

func (s *Sim) storeNewSummary(co Company, m ManagementSummary, by string) ManagementSummary {
	m.ID = s.st.nextID("summary")
	m.Company = companyRef(co)
	m.Info = s.newInfo(by)
	s.st.summaries = append(s.st.summaries, m)
	return m
}

func (s *Sim) putSummary(q *request) response {
	var m ManagementSummary
	if _, bad := summaryFields.decodeBody(&m, q.body, false); bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i, nf := s.st.summaryFor(q)
	if nf != nil {
		return *nf
	}
	return s.replaceSummary(i, m)
}

func (s *Sim) patchSummary(q *request) response {
	ops, bad := parsePatch(summaryFields.resource, q.body)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i, nf := s.st.summaryFor(q)
	if nf != nil {
		return *nf
	}
	m := s.st.summaries[i]
	if errs := summaryFields.applyPatch(&m, ops); errs != nil {
		return invalid(summaryFields.resource, errs)
	}
	return s.replaceSummary(i, m)
}

// replaceSummary validates m and stores it over row i (Sim.mu held).
func (s *Sim) replaceSummary(i int, m ManagementSummary) response {
	old := s.st.summaries[i]
	if errs := s.st.checkSummary(&m, old.Company.ID); errs != nil {
		return invalid(summaryFields.resource, errs)
	}
	m.ID, m.Company, m.Info = old.ID, old.Company, old.Info
	s.touch(&m.Info, apiMemberIdentifier)
	s.st.summaries[i] = m
	return jsonResp(http.StatusOK, m)
}

func (s *Sim) deleteSummary(q *request) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, nf := s.st.summaryFor(q)
	if nf != nil {
		return *nf
	}
	s.st.summaries = slices.Delete(s.st.summaries, i, i+1)
	return noContent()
}

// AddManagementSummary adds a Management tab row to a company, validated as
// the API validates it (managementSolution may be given by id or name).
func (s *Sim) AddManagementSummary(companyID int, m ManagementSummary) (ManagementSummary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	co, nf := s.st.companyFor(companyID)
	if nf != nil {
		return ManagementSummary{}, errNotFound("company", companyID)
	}
	if errs := s.st.checkSummary(&m, co.ID); errs != nil {
		return ManagementSummary{}, validationError("management summary", errs)
	}
	return s.storeNewSummary(co, m, personIdentifier), nil
}

// ManagementSummaries returns a copy of a company's Management tab rows, in
// id (entry) order.
func (s *Sim) ManagementSummaries(companyID int) []ManagementSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.companySummaries(companyID)
}

func (st *state) companySummaries(companyID int) []ManagementSummary {
	return where(st.summaries, func(m ManagementSummary) bool { return m.Company.ID == companyID })
}

// --- management IT solutions ---

// solutionTypes are the accepted managementItSolutionType values.
var solutionTypes = []string{"Custom", "LabTech", "Kaseya", "NAble", "Continuum", "LevelPlatforms", "ConnectWiseRMM"}

const maxSolutionName = 50

var solutionFields = &fieldTable[ManagementITSolution]{
	resource: "managementItSolution",
	fields: map[string]setter[ManagementITSolution]{
		"name":                     strField(func(m *ManagementITSolution) *string { return &m.Name }),
		"managementItSolutionType": enumField(func(m *ManagementITSolution) *string { return &m.ManagementITSolutionType }, solutionTypes...),
		"managementSolutionName":   strField(func(m *ManagementITSolution) *string { return &m.ManagementSolutionName }),
	},
	readOnly: []string{"id", "_info"},
	ignored:  []string{"userName", "password", "managedServerUrl", "loginUrl", "defaultBillingLevel", "noBillingFlag", "updateDeviceFlag"},
}

var solutionConds = newCondSpec("id number", "name string", "managementItSolutionType string", "managementSolutionName string")

func (st *state) checkSolution(m *ManagementITSolution, selfID int) []fieldError {
	var c checker
	if c.required("name", m.Name) {
		c.maxLen("name", m.Name, maxSolutionName)
		for _, o := range st.solutions {
			if o.ID != selfID && trimmedEqual(o.Name, m.Name) {
				c.add(codeObjectExists, "name", "A management IT solution named %q already exists.", m.Name)
			}
		}
	}
	if c.required("managementItSolutionType", m.ManagementITSolutionType) && m.ManagementITSolutionType == "Custom" {
		if c.required("managementSolutionName", m.ManagementSolutionName) {
			c.maxLen("managementSolutionName", m.ManagementSolutionName, maxSolutionName)
		}
	}
	return c.errs
}

func (s *Sim) listSolutions(q *request) response {
	return listRecords(s, q, solutionFields.resource, solutionConds, false, every(func(st *state) []ManagementITSolution { return st.solutions }))
}

func (s *Sim) getSolution(q *request) response {
	return getRecord(s, q, "Management IT solution", func(st *state) []ManagementITSolution { return st.solutions })
}

func (s *Sim) postSolution(q *request) response {
	var m ManagementITSolution
	if _, bad := solutionFields.decodeBody(&m, q.body, true); bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if errs := s.st.checkSolution(&m, 0); errs != nil {
		return invalid(solutionFields.resource, errs)
	}
	m.ID = s.st.nextID("solution")
	m.Info = s.newInfo(apiMemberIdentifier)
	s.st.solutions = append(s.st.solutions, m)
	return jsonResp(http.StatusCreated, m)
}

// AddManagementITSolution adds a Custom management IT solution named name
// (its custom solution name is the same, as the eFolder guide sets it up).
func (s *Sim) AddManagementITSolution(name string) (ManagementITSolution, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := ManagementITSolution{Name: name, ManagementITSolutionType: "Custom", ManagementSolutionName: name}
	if errs := s.st.checkSolution(&m, 0); errs != nil {
		return ManagementITSolution{}, validationError("management IT solution", errs)
	}
	m.ID = s.st.nextID("solution")
	m.Info = s.newInfo(personIdentifier)
	s.st.solutions = append(s.st.solutions, m)
	return m, nil
}

// ManagementITSolutions returns a copy of every management IT solution.
func (s *Sim) ManagementITSolutions() []ManagementITSolution {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.solutions)
}
