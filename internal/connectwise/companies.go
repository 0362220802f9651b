package connectwise

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
)

// CompaniesService handles /company/companies and their management summary
// reports (the "Managed ID" rows of a company's Management tab).
type CompaniesService service

// Company is a ConnectWise company (identifier max 30, name max 50).
type Company struct {
	ID          int        `json:"id,omitempty"`
	Identifier  string     `json:"identifier,omitempty"`
	Name        string     `json:"name,omitempty"`
	Status      *Reference `json:"status,omitempty"`
	DeletedFlag bool       `json:"deletedFlag,omitempty"`
}

// Device types of a management summary report (ManagementSummary.DeviceType).
const (
	WorkstationsAndServers = "WorkstationsAndServers"
	BackupStats            = "BackupStats"
	Servers                = "Servers"
	Workstations           = "Workstations"
)

// ManagementSummary is a CompanyManagementSummary row: GroupIdentifier is
// the managed ID (required, max 100), DeviceType one of
// WorkstationsAndServers, BackupStats, Servers, Workstations.
type ManagementSummary struct {
	ID                   int        `json:"id,omitempty"`
	GroupIdentifier      string     `json:"groupIdentifier,omitempty"`
	ManagementSolution   *Reference `json:"managementSolution,omitempty"`
	DeviceType           string     `json:"deviceType,omitempty"`
	Agreement            *Reference `json:"agreement,omitempty"`
	SuccessfulBackupJobs int        `json:"successfulBackupJobs,omitempty"`
	FailedBackupJobs     int        `json:"failedBackupJobs,omitempty"`
	TotalServers         int        `json:"totalServers,omitempty"`
	TotalWorkstations    int        `json:"totalWorkstations,omitempty"`
	TotalManagedMachines int        `json:"totalManagedMachines,omitempty"`
	ServersDiskSpaceLow  int        `json:"serversDiskSpaceLow,omitempty"`
	TotalNotifications   int        `json:"totalNotifications,omitempty"`
	AlertsGenerated      int        `json:"alertsGenerated,omitempty"`
}

const companiesPath = "company/companies"

// List returns one page of companies. GET /company/companies
func (s *CompaniesService) List(ctx context.Context, opts *ListOptions) ([]Company, *Response, error) {
	return list[Company](ctx, s.client, companiesPath, opts)
}

// All returns every company matching opts, page by page, keeping every
// query parameter on every page. GET /company/companies
func (s *CompaniesService) All(ctx context.Context, opts ListOptions) iter.Seq2[Company, error] {
	return all[Company](ctx, s.client, companiesPath, opts)
}

// Get returns a company. GET /company/companies/{id}
func (s *CompaniesService) Get(ctx context.Context, id int) (*Company, *Response, error) {
	if err := checkID("company", id); err != nil {
		return nil, nil, err
	}
	return get[Company](ctx, s.client, fmt.Sprintf("%s/%d", companiesPath, id))
}

// ListManagementSummaries returns one page of a company's management
// summary reports. GET /company/companies/{id}/managementSummaryReports
func (s *CompaniesService) ListManagementSummaries(ctx context.Context, companyID int, opts *ListOptions) ([]ManagementSummary, *Response, error) {
	if err := checkID("company", companyID); err != nil {
		return nil, nil, err
	}
	return list[ManagementSummary](ctx, s.client, fmt.Sprintf("%s/%d/managementSummaryReports", companiesPath, companyID), opts)
}

// CreateManagementSummary adds a management summary report to a company.
// POST /company/companies/{id}/managementSummaryReports
func (s *CompaniesService) CreateManagementSummary(ctx context.Context, companyID int, m *ManagementSummary) (*ManagementSummary, *Response, error) {
	if err := checkID("company", companyID); err != nil {
		return nil, nil, err
	}
	if m == nil {
		return nil, nil, errors.New("connectwise: Companies.CreateManagementSummary: nil report")
	}
	return send[ManagementSummary](ctx, s.client, http.MethodPost, fmt.Sprintf("%s/%d/managementSummaryReports", companiesPath, companyID), m)
}

// PatchManagementSummary applies JSON Patch operations to a company's
// management summary report.
// PATCH /company/companies/{id}/managementSummaryReports/{reportId}
func (s *CompaniesService) PatchManagementSummary(ctx context.Context, companyID, reportID int, ops []PatchOp) (*ManagementSummary, *Response, error) {
	if err := checkID("company", companyID); err != nil {
		return nil, nil, err
	}
	if err := checkID("management summary report", reportID); err != nil {
		return nil, nil, err
	}
	if len(ops) == 0 {
		return nil, nil, errors.New("connectwise: Companies.PatchManagementSummary: no operations")
	}
	return send[ManagementSummary](ctx, s.client, http.MethodPatch, fmt.Sprintf("%s/%d/managementSummaryReports/%d", companiesPath, companyID, reportID), ops)
}
