package connectwise

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// ConfigurationsService handles /company/configurations, where per-device
// backup figures are kept.
type ConfigurationsService service

// Configuration is a company configuration (a device). Zero values are
// omitted when sending, so a create leaves ConnectWise's defaults in place
// (activeFlag defaults to true there); change a field to zero or false with
// Patch.
type Configuration struct {
	ID                        int        `json:"id,omitempty"`
	Name                      string     `json:"name,omitempty"`
	Type                      *Reference `json:"type,omitempty"`
	Company                   *Reference `json:"company,omitempty"`
	SerialNumber              string     `json:"serialNumber,omitempty"`
	BackupSuccesses           int        `json:"backupSuccesses,omitempty"`
	BackupIncomplete          int        `json:"backupIncomplete,omitempty"`
	BackupFailed              int        `json:"backupFailed,omitempty"`
	BackupRestores            int        `json:"backupRestores,omitempty"`
	LastBackupDate            string     `json:"lastBackupDate,omitempty"`
	BackupServerName          string     `json:"backupServerName,omitempty"`
	BackupBillableSpaceGb     float64    `json:"backupBillableSpaceGb,omitempty"`
	BackupProtectedDeviceList string     `json:"backupProtectedDeviceList,omitempty"`
	BackupYear                int        `json:"backupYear,omitempty"`
	BackupMonth               int        `json:"backupMonth,omitempty"`
	ActiveFlag                bool       `json:"activeFlag,omitempty"`
}

const configurationsPath = "company/configurations"

// List returns one page of configurations. GET /company/configurations
func (s *ConfigurationsService) List(ctx context.Context, opts *ListOptions) ([]Configuration, *Response, error) {
	return list[Configuration](ctx, s.client, configurationsPath, opts)
}

// Create creates a configuration. Retried only on 429: after a 5xx or a
// timeout, look it up before creating it again. POST /company/configurations
func (s *ConfigurationsService) Create(ctx context.Context, cfg *Configuration) (*Configuration, *Response, error) {
	if cfg == nil {
		return nil, nil, errors.New("connectwise: Configurations.Create: nil configuration")
	}
	return send[Configuration](ctx, s.client, http.MethodPost, configurationsPath, cfg)
}

// Patch applies JSON Patch operations to a configuration.
// PATCH /company/configurations/{id}
func (s *ConfigurationsService) Patch(ctx context.Context, id int, ops []PatchOp) (*Configuration, *Response, error) {
	if err := checkID("configuration", id); err != nil {
		return nil, nil, err
	}
	if len(ops) == 0 {
		return nil, nil, errors.New("connectwise: Configurations.Patch: no operations")
	}
	return send[Configuration](ctx, s.client, http.MethodPatch, fmt.Sprintf("%s/%d", configurationsPath, id), ops)
}
