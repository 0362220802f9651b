package cwsim

import (
	"net/http"
	"slices"
)

// Company configurations (per-device backup figures) and configuration types.

func init() {
	register("GET /company/configurations", (*Sim).listConfigurations)
	register("POST /company/configurations", (*Sim).postConfiguration)
	register("GET /company/configurations/count", (*Sim).countConfigurations)
	register("GET /company/configurations/types", (*Sim).listConfigTypes)
	register("GET /company/configurations/types/{id}", (*Sim).getConfigType)
	register("GET /company/configurations/{id}", (*Sim).getConfiguration)
	register("PUT /company/configurations/{id}", (*Sim).putConfiguration)
	register("PATCH /company/configurations/{id}", (*Sim).patchConfiguration)
}

// Field limits of configurations.
const (
	maxConfigurationName   = 100
	maxConfigurationSerial = 250
)

var configurationFields = &fieldTable[Configuration]{
	resource: "configuration",
	fields: map[string]setter[Configuration]{
		"name":                      strField(func(c *Configuration) *string { return &c.Name }),
		"type":                      refField(func(c *Configuration) *Ref { return &c.Type }),
		"company":                   refField(func(c *Configuration) *Ref { return &c.Company }),
		"serialNumber":              strField(func(c *Configuration) *string { return &c.SerialNumber }),
		"backupSuccesses":           intField(func(c *Configuration) *int { return &c.BackupSuccesses }),
		"backupIncomplete":          intField(func(c *Configuration) *int { return &c.BackupIncomplete }),
		"backupFailed":              intField(func(c *Configuration) *int { return &c.BackupFailed }),
		"backupRestores":            intField(func(c *Configuration) *int { return &c.BackupRestores }),
		"lastBackupDate":            dateField(func(c *Configuration) *string { return &c.LastBackupDate }),
		"backupServerName":          strField(func(c *Configuration) *string { return &c.BackupServerName }),
		"backupBillableSpaceGb":     numField(func(c *Configuration) *float64 { return &c.BackupBillableSpaceGb }),
		"backupProtectedDeviceList": strField(func(c *Configuration) *string { return &c.BackupProtectedDeviceList }),
		"backupYear":                intField(func(c *Configuration) *int { return &c.BackupYear }),
		"backupMonth":               intField(func(c *Configuration) *int { return &c.BackupMonth }),
		"activeFlag":                boolField(func(c *Configuration) *bool { return &c.ActiveFlag }),
	},
	refs:     map[string]bool{"type": true, "company": true},
	readOnly: []string{"id", "_info"},
	ignored: []string{
		"status", "contact", "site", "location", "locationId", "businessUnitId", "department",
		"deviceIdentifier", "modelNumber", "tagNumber", "purchaseDate", "installationDate", "installedBy",
		"warrantyExpirationDate", "vendorNotes", "notes", "macAddress", "lastLoginName", "billFlag",
		"ipAddress", "defaultGateway", "osType", "osInfo", "cpuSpeed", "ram", "localHardDrives",
		"manufacturer", "vendor", "questions", "managementLink", "remoteLink", "needsRenewalFlag",
		"mobileGuid", "companyLocationId", "showRemoteFlag", "showAutomateFlag", "sla", "customFields",
		"displayVendorFlag", "parentConfigurationId", "manufacturerPartNumber",
	},
}

var configurationConds = newCondSpec(
	"id number", "name string", "type/id number", "type/name string", "company/id number",
	"company/identifier string", "company/name string", "serialNumber string", "activeFlag bool",
	"status/name string", "lastBackupDate date", "backupServerName string",
	"lastUpdated=_info/lastUpdated date",
)

var configTypeConds = newCondSpec("id number", "name string", "inactiveFlag bool")

// checkConfiguration validates a configuration and resolves its references
// (Sim.mu held).
func (st *state) checkConfiguration(c *Configuration) []fieldError {
	var ck checker
	if ck.required("name", c.Name) {
		ck.maxLen("name", c.Name, maxConfigurationName)
	}
	if ck.requiredRef("type", c.Type) {
		st.resolveConfigType(&ck, "type", &c.Type)
	}
	if ck.requiredRef("company", c.Company) {
		st.resolveCompany(&ck, "company", &c.Company)
	}
	ck.maxLen("serialNumber", c.SerialNumber, maxConfigurationSerial)
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"backupSuccesses", float64(c.BackupSuccesses)}, {"backupIncomplete", float64(c.BackupIncomplete)},
		{"backupFailed", float64(c.BackupFailed)}, {"backupRestores", float64(c.BackupRestores)},
		{"backupBillableSpaceGb", c.BackupBillableSpaceGb}, {"backupYear", float64(c.BackupYear)},
	} {
		ck.nonNegative(f.name, f.v)
	}
	if c.BackupMonth < 0 || c.BackupMonth > 12 {
		ck.add(codeOutOfRange, "backupMonth", "backupMonth must be between 1 and 12 (it is %d).", c.BackupMonth)
	}
	if c.Status == (Ref{}) {
		c.Status = Ref{ID: 1, Name: "Active"}
	}
	return ck.errs
}

func (s *Sim) listConfigurations(q *request) response {
	return listRecords(s, q, "configuration", configurationConds, false, every(func(st *state) []Configuration { return st.configurations }))
}

func (s *Sim) countConfigurations(q *request) response {
	return listRecords(s, q, "configuration", configurationConds, true, every(func(st *state) []Configuration { return st.configurations }))
}

func configurationNotFound(id int) response {
	return recordNotFound("Configuration", id)
}

func (s *Sim) getConfiguration(q *request) response {
	return getRecord(s, q, "Configuration", func(st *state) []Configuration { return st.configurations })
}

// decodeConfiguration reads a POST/PUT body; activeFlag defaults to true
// when the body leaves it out.
func decodeConfiguration(body []byte, post bool) (Configuration, *response) {
	c := Configuration{ActiveFlag: true}
	m, bad := configurationFields.decodeBody(&c, body, post)
	if bad != nil {
		return Configuration{}, bad
	}
	if raw, ok := m["activeFlag"]; ok && isJSONNull(raw) {
		c.ActiveFlag = true
	}
	return c, nil
}

func (s *Sim) postConfiguration(q *request) response {
	c, bad := decodeConfiguration(q.body, true)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, errs := s.createConfiguration(c, apiMemberIdentifier)
	if errs != nil {
		return invalid("configuration", errs)
	}
	return jsonResp(http.StatusCreated, c)
}

func (s *Sim) createConfiguration(c Configuration, by string) (Configuration, []fieldError) {
	if errs := s.st.checkConfiguration(&c); errs != nil {
		return Configuration{}, errs
	}
	c.ID = s.st.nextID("configuration")
	c.Info = s.newInfo(by)
	s.st.configurations = append(s.st.configurations, c)
	return c, nil
}

func (s *Sim) putConfiguration(q *request) response {
	c, bad := decodeConfiguration(q.body, false)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := indexOf(s.st.configurations, q.ids[0])
	if i < 0 {
		return configurationNotFound(q.ids[0])
	}
	return s.replaceConfiguration(i, c)
}

func (s *Sim) patchConfiguration(q *request) response {
	ops, bad := parsePatch("configuration", q.body)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := indexOf(s.st.configurations, q.ids[0])
	if i < 0 {
		return configurationNotFound(q.ids[0])
	}
	c := s.st.configurations[i]
	if errs := configurationFields.applyPatch(&c, ops); errs != nil {
		return invalid("configuration", errs)
	}
	return s.replaceConfiguration(i, c)
}

// replaceConfiguration validates c and stores it over configuration i
// (Sim.mu held).
func (s *Sim) replaceConfiguration(i int, c Configuration) response {
	old := s.st.configurations[i]
	if c.Status == (Ref{}) {
		c.Status = old.Status
	}
	if errs := s.st.checkConfiguration(&c); errs != nil {
		return invalid("configuration", errs)
	}
	c.ID, c.Info = old.ID, old.Info
	if c != old {
		s.touch(&c.Info, apiMemberIdentifier)
	}
	s.st.configurations[i] = c
	return jsonResp(http.StatusOK, c)
}

func (s *Sim) listConfigTypes(q *request) response {
	return listRecords(s, q, "configurationType", configTypeConds, false, every(func(st *state) []ConfigurationType { return st.configTypes }))
}

func (s *Sim) getConfigType(q *request) response {
	return getRecord(s, q, "Configuration type", func(st *state) []ConfigurationType { return st.configTypes })
}

// AddConfigurationType adds a configuration type.
func (s *Sim) AddConfigurationType(name string) ConfigurationType {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := ConfigurationType{ID: s.st.nextID("configType"), Name: name, Info: s.newInfo(personIdentifier)}
	s.st.configTypes = append(s.st.configTypes, t)
	return t
}

// AddConfiguration adds a configuration as a person would, validated as
// the API validates it (type by id or name, company by id or identifier).
func (s *Sim) AddConfiguration(c Configuration) (Configuration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, errs := s.createConfiguration(c, personIdentifier)
	if errs != nil {
		return Configuration{}, validationError("configuration", errs)
	}
	return c, nil
}

// Configurations returns a copy of every configuration, in id order.
func (s *Sim) Configurations() []Configuration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.configurations)
}

// ConfigurationTypes returns a copy of every configuration type.
func (s *Sim) ConfigurationTypes() []ConfigurationType {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.configTypes)
}
