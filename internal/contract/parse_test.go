package contract

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRules(t *testing.T) {
	t.Parallel()
	for _, c := range cases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(c.body)
			if c.valid() {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if e == nil {
					t.Fatal("Parse returned no event and no error")
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse error = %v (%T), want a *ValidationError", err, err)
			}
			if ve.Field != c.field || !strings.Contains(ve.Problem, c.problem) {
				t.Errorf("Parse error = {Field: %q, Problem: %q}, want field %q and a problem containing %q", ve.Field, ve.Problem, c.field, c.problem)
			}
			if len(ve.Error()) > 300 {
				t.Errorf("error text is %d bytes long: %.80q…", len(ve.Error()), ve.Error())
			}
		})
	}
}

func TestParseSamples(t *testing.T) {
	t.Parallel()
	for _, p := range samplePaths(t) {
		body := readFile(t, p)
		e, err := Parse(body)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if e.Customer.ID == "" || DataField(e.Type) == "" {
			t.Errorf("%s: parsed event lacks customer or type: %+v", p, e)
		}
	}
}

func TestParseFillsDefaultState(t *testing.T) {
	t.Parallel()
	e, err := Parse(with(t, sample(t, "notification-backup-failure"), "notification/state", remove))
	if err != nil {
		t.Fatal(err)
	}
	if e.Notification.State != StateRaised {
		t.Errorf("state = %q, want %q", e.Notification.State, StateRaised)
	}
}

func TestParseDecodesEveryField(t *testing.T) {
	t.Parallel()
	e, err := Parse(readFile(t, samplesDir+"/backup-completed-success.json"))
	if err != nil {
		t.Fatal(err)
	}
	started := time.Date(2026, 3, 2, 2, 0, 3, 0, time.UTC)
	b := e.Backup
	switch {
	case e.SpecVersion != "1.0", e.Type != TypeBackupCompleted,
		!e.OccurredAt.Equal(time.Date(2026, 3, 2, 2, 41, 17, 0, time.UTC)),
		e.Customer != Customer{ID: "1001", Name: "Acme Dental"},
		b.Account != Account{ID: "ACME-SRV01", Name: "Acme Dental file server", Kind: KindServer, Plan: PlanSelect},
		b.Result != ResultSuccess, b.StartedAt == nil || !b.StartedAt.Equal(started),
		!b.EndedAt.Equal(time.Date(2026, 3, 2, 2, 41, 12, 0, time.UTC)),
		b.OnlineGB != 412.37, b.LocalGB != 598.1, !strings.HasPrefix(b.Message, "Backup completed"):
		t.Errorf("decoded event = %+v, backup %+v", e, b)
	}
	if e.Customer.ManagedID() != "EFS-1001" {
		t.Errorf("ManagedID = %q", e.Customer.ManagedID())
	}
}

func TestParseDecodesRemovals(t *testing.T) {
	t.Parallel()
	e, err := Parse(readFile(t, samplesDir+"/account-removed.json"))
	if err != nil {
		t.Fatal(err)
	}
	r := e.Removal
	switch {
	case e.SpecVersion != "1.1", e.Type != TypeAccountRemoved,
		!e.OccurredAt.Equal(time.Date(2026, 3, 8, 16, 30, 0, 0, time.UTC)),
		e.Customer != Customer{ID: "1001", Name: "Acme Dental"},
		e.Backup != nil || e.Status != nil || e.Notification != nil || e.Usage != nil,
		r == nil || r.Account == nil,
		*r.Account != Account{ID: "ACME-WS07", Name: "Front desk PC", Kind: KindDesktop, Plan: PlanBasic},
		!strings.HasPrefix(r.Reason, "The front desk PC was decommissioned"):
		t.Errorf("decoded event = %+v, removal %+v", e, r)
	}

	e, err = Parse(readFile(t, samplesDir+"/customer-removed.json"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != TypeCustomerRemoved || e.Customer.ID != "1002" || e.Removal == nil || e.Removal.Account != nil ||
		!strings.HasPrefix(e.Removal.Reason, "The customer cancelled") {
		t.Errorf("decoded event = %+v, removal %+v", e, e.Removal)
	}
	e, err = Parse(with(t, sample(t, "customer-removed"), "removal", remove))
	if err != nil {
		t.Fatal(err)
	}
	if e.Removal != nil {
		t.Errorf("customer.removed without removal decoded a removal: %+v", e.Removal)
	}
}

// TestTypesAndVersions holds the type and version tables together.
func TestTypesAndVersions(t *testing.T) {
	t.Parallel()
	if len(Types) != 6 || len(SpecVersions) != 2 || SpecVersion != SpecVersions[len(SpecVersions)-1] ||
		SpecVersion10 != "1.0" || SpecVersion11 != "1.1" {
		t.Fatalf("Types %v, SpecVersions %v, SpecVersion %q", Types, SpecVersions, SpecVersion)
	}
	seenField := map[string]bool{}
	for _, typ := range Types {
		min := MinSpecVersion(typ)
		if !slices.Contains(SpecVersions, min) {
			t.Errorf("MinSpecVersion(%s) = %q, not one of %v", typ, min, SpecVersions)
		}
		removal := typ == TypeAccountRemoved || typ == TypeCustomerRemoved
		if want := map[bool]string{false: SpecVersion10, true: SpecVersion11}[removal]; min != want {
			t.Errorf("MinSpecVersion(%s) = %q, want %q", typ, min, want)
		}
		f := DataField(typ)
		if f == "" || (seenField[f] && !removal) {
			t.Errorf("DataField(%s) = %q", typ, f)
		}
		seenField[f] = true
		if DataRequired(typ) != (typ != TypeCustomerRemoved) {
			t.Errorf("DataRequired(%s) = %v", typ, DataRequired(typ))
		}
	}
	if MinSpecVersion("backup.started") != "" || DataField("backup.started") != "" || DataRequired("backup.started") {
		t.Error("an unknown type has a version or a data field")
	}
	if versionProblem != `must be "1.0" or "1.1"` {
		t.Errorf("versionProblem = %q", versionProblem)
	}
}

// typeSamples names a sample of every type.
var typeSamples = map[Type]string{
	TypeBackupCompleted: "backup-completed-success",
	TypeServiceStatus:   "service-status-failed",
	TypeNotification:    "notification-backup-failure",
	TypeUsageSnapshot:   "usage-snapshot",
	TypeAccountRemoved:  "account-removed",
	TypeCustomerRemoved: "customer-removed",
}

// TestEveryTypeAndVersion sends a sample of every type under every version:
// Parse and the schema accept it exactly when the version has the type, and
// Parse names the type otherwise.
func TestEveryTypeAndVersion(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	for _, typ := range Types {
		name, ok := typeSamples[typ]
		if !ok {
			t.Fatalf("no sample of type %s", typ)
		}
		for _, v := range SpecVersions {
			body := with(t, sample(t, name), "specVersion", v)
			want := v == SpecVersion11 || MinSpecVersion(typ) == SpecVersion10
			_, err := Parse(body)
			if (err == nil) != want {
				t.Errorf("%s in %s: Parse error %v, want accepted %v", typ, v, err, want)
			}
			var ve *ValidationError
			if err != nil && (!errors.As(err, &ve) || ve.Field != "type" || !strings.Contains(ve.Problem, `needs specVersion "1.1"`)) {
				t.Errorf("%s in %s: Parse error %v, want one on type naming version 1.1", typ, v, err)
			}
			if ok, serr := schemaAccepts(sch, body); ok != want {
				t.Errorf("%s in %s: schema accepts %v (%v), want %v", typ, v, ok, serr, want)
			}
		}
	}
}

func TestUsageCountsDecode(t *testing.T) {
	t.Parallel()
	e, err := Parse(with(t, sample(t, "usage-snapshot"), "usage/archivingMailboxes", remove))
	if err != nil {
		t.Fatal(err)
	}
	u := e.Usage
	if u.ArchivingMailboxes != nil || *u.FilteringMailboxes != 16 || *u.ShadowProtectServers != 2 || *u.ShadowProtectDesktops != 9 {
		t.Errorf("usage = %+v", u)
	}
}

// TestValidateGoEvents covers what only an Event built in Go can hold.
func TestValidateGoEvents(t *testing.T) {
	t.Parallel()
	base := func() *Event {
		return &Event{
			SpecVersion: SpecVersion, Type: TypeBackupCompleted,
			OccurredAt: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC),
			Customer:   Customer{ID: "1001"},
			Backup: &BackupCompleted{
				Account: Account{ID: "ACME-SRV01", Kind: KindServer, Plan: PlanSelect},
				Result:  ResultSuccess, EndedAt: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC),
			},
		}
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("base event: %v", err)
	}
	// Version 1.0 still carries backup.completed; customer.removed may leave
	// its removal out.
	for name, edit := range map[string]func(*Event){
		"backup.completed in 1.0": func(e *Event) { e.SpecVersion = SpecVersion10 },
		"customer.removed without removal": func(e *Event) {
			e.Type, e.Backup = TypeCustomerRemoved, nil
		},
		"account.removed": func(e *Event) {
			e.Type, e.Backup = TypeAccountRemoved, nil
			e.Removal = &Removal{Account: &Account{ID: "ACME-WS07"}, Reason: "decommissioned\n\tby the customer"}
		},
	} {
		e := base()
		edit(e)
		if err := e.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	lmt := time.FixedZone("LMT", 17*60+32) // an offset with seconds
	for _, c := range []struct {
		name  string
		edit  func(*Event)
		field string
	}{
		{"NaN GB", func(e *Event) { e.Backup.OnlineGB = math.NaN() }, "backup.onlineGB"},
		{"infinite GB", func(e *Event) { e.Backup.LocalGB = math.Inf(1) }, "backup.localGB"},
		{"zero occurredAt", func(e *Event) { e.OccurredAt = time.Time{} }, "occurredAt"},
		{"year 10000", func(e *Event) { e.OccurredAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "occurredAt"},
		{"offset with seconds", func(e *Event) { e.OccurredAt = e.OccurredAt.In(lmt) }, "occurredAt"},
		{"invalid UTF-8 name", func(e *Event) { e.Customer.Name = "Acme\xff" }, "customer.name"},
		{"two data objects", func(e *Event) { e.Usage = &UsageSnapshot{} }, "usage"},
		{"negative usage", func(e *Event) {
			n := -1
			e.Type, e.Backup, e.Usage = TypeUsageSnapshot, nil, &UsageSnapshot{ArchivingMailboxes: &n}
		}, "usage.archivingMailboxes"},
		{"invalid UTF-8 detail key", func(e *Event) {
			e.Type, e.Backup = TypeNotification, nil
			e.Notification = &Notification{Kind: NotifyNoBackup, Severity: SeverityWarning, Message: "m", Details: map[string]string{"\xff": "v"}}
		}, "notification.details"},
		{"unknown specVersion", func(e *Event) { e.SpecVersion = "1.2" }, "specVersion"},
		{"account.removed in 1.0", func(e *Event) {
			e.SpecVersion, e.Type, e.Backup = SpecVersion10, TypeAccountRemoved, nil
			e.Removal = &Removal{Account: &Account{ID: "ACME-WS07"}}
		}, "type"},
		{"customer.removed in 1.0", func(e *Event) {
			e.SpecVersion, e.Type, e.Backup = SpecVersion10, TypeCustomerRemoved, nil
		}, "type"},
		{"removal beside backup", func(e *Event) { e.Removal = &Removal{} }, "removal"},
		{"account.removed without removal", func(e *Event) { e.Type, e.Backup = TypeAccountRemoved, nil }, "removal"},
		{"account.removed without account", func(e *Event) {
			e.Type, e.Backup, e.Removal = TypeAccountRemoved, nil, &Removal{Reason: "gone"}
		}, "removal.account"},
		{"customer.removed with an account", func(e *Event) {
			e.Type, e.Backup, e.Removal = TypeCustomerRemoved, nil, &Removal{Account: &Account{ID: "ACME-WS07"}}
		}, "removal.account"},
		{"invalid UTF-8 removal reason", func(e *Event) {
			e.Type, e.Backup, e.Removal = TypeCustomerRemoved, nil, &Removal{Reason: "gone\xff"}
		}, "removal.reason"},
	} {
		e := base()
		c.edit(e)
		err := e.Validate()
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("%s: Validate = %v, want a ValidationError on %s", c.name, err, c.field)
		}
	}
	var nilEvent *Event
	if err := nilEvent.Validate(); err == nil {
		t.Error("nil event validated")
	}
}

func TestValidationErrorText(t *testing.T) {
	t.Parallel()
	if got := (&ValidationError{Field: "backup.account.plan", Problem: "required"}).Error(); got != "backup.account.plan: required" {
		t.Errorf("Error() = %q", got)
	}
	if got := (&ValidationError{Problem: "body is empty"}).Error(); got != "body is empty" {
		t.Errorf("Error() = %q", got)
	}
}

func TestJoinPath(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ parent, key, want string }{
		{"", "type", "type"},
		{"backup", "account", "backup.account"},
		{"notification.details", "last backup", `notification.details["last backup"]`},
		{"notification.details", "a.b", `notification.details["a.b"]`},
		{"notification.details", "1st", `notification.details["1st"]`},
		{"x", "\x00\u00e9", `x["\x00\u00e9"]`},
		{"", strings.Repeat("é", 40), `["` + strings.Repeat(`\u00e9`, 32) + `\u2026"]`},
	} {
		if got := joinPath(c.parent, c.key); got != c.want {
			t.Errorf("joinPath(%q, %q) = %s, want %s", c.parent, c.key, got, c.want)
		}
	}
}

func TestWholeNumber(t *testing.T) {
	t.Parallel()
	for n, want := range map[string]bool{
		"0": true, "-0": true, "12": true, "12.0": true, "1e2": true, "1E+2": true, "1.5e1": true,
		"10e-1": true, "0.5e1": true, "0e-999999999999999999999": true, "0.0": true,
		"1.5": false, "1e-1": false, "0.05e1": false, "1e-400": false, "5e-99999999999999999999": false,
	} {
		if got := wholeNumber(n); got != want {
			t.Errorf("wholeNumber(%s) = %v, want %v", n, got, want)
		}
	}
}
