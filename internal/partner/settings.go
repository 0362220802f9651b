package partner

import (
	"fmt"
	"strings"
	"time"
)

// DefaultSyncWindow is the least time between two data syncs of a customer
// when the partner sets no syncWindowHours (the guide's 12 hours).
const DefaultSyncWindow = 12 * time.Hour

// SyncWindow is the least time between two data syncs of one of the
// partner's customers: syncWindowHours, or DefaultSyncWindow when it is not
// set. Every user of the window (the worker's claim and its "throttled"
// message, the resync) reads it here.
func (p *Partner) SyncWindow() time.Duration {
	if p.SyncWindowHours > 0 {
		return time.Duration(p.SyncWindowHours) * time.Hour
	}
	return DefaultSyncWindow
}

// WholeNumber describes an integer setting of a partner.
type WholeNumber struct {
	// Name is the setting's JSON name.
	Name string
	// Unit is what one counts ("hours", "minutes").
	Unit string
	// Min and Max bound a set value; 0 (or leaving it out) means Default.
	Min, Max int
	Default  int

	value func(*Partner) int
}

// WholeNumberSettings are the partner's whole-number settings and their
// ranges. A fraction (1.5), a string or a value out of range is refused with
// an *InvalidError naming the setting and this range.
var WholeNumberSettings = []WholeNumber{
	{Name: "noteEveryMinutes", Unit: "minutes", Min: 1, Max: 1440, Default: 60, value: func(p *Partner) int { return p.NoteEveryMinutes }},
	{Name: "reopenWithinHours", Unit: "hours", Min: 1, Max: 720, Default: 24, value: func(p *Partner) int { return p.ReopenWithinHours }},
	{Name: "syncWindowHours", Unit: "hours", Min: 1, Max: 168, Default: 12, value: func(p *Partner) int { return p.SyncWindowHours }},
}

// Problem says what the setting must be.
func (w WholeNumber) Problem() string {
	return fmt.Sprintf("must be a whole number of %s from %d to %d (0 or left out: the default, %d)", w.Unit, w.Min, w.Max, w.Default)
}

// check reports whether the partner's value is 0 (the default) or in range.
func (w WholeNumber) check(p *Partner) bool {
	v := w.value(p)
	return v == 0 || v >= w.Min && v <= w.Max
}

// settingProblem says what a partner setting (relative name, list indices
// written "[]") must be, for the settings whose rule is more than their JSON
// type; "" for the others.
func settingProblem(name string) string {
	for _, w := range WholeNumberSettings {
		if w.Name == name {
			return w.Problem()
		}
	}
	switch name {
	case "version":
		return "must be a whole number: the version you last read (GET), unchanged"
	case "gbRounding":
		return "must be up, nearest or down"
	case "recurrence":
		return "must be reopen or new"
	case "rules":
		return `must be a list of rules such as {"action": "open_ticket", "severities": ["error"]}; [] means no rules, leaving it out gives the default rules`
	case "rules[].action":
		return fmt.Sprintf("must be %q or %q", ActionOpenTicket, ActionSynchronize)
	case "rules[].severities", "rules[].severities[]":
		return "must be a list of severities: info, warning, error, critical (empty: all)"
	case "rules[].eventTypes", "rules[].eventTypes[]":
		return "must be a list of notification types: backup_failure, no_backup, no_error_free_backup, disk_usage, archiving_failure, bdr_hardware_failure (empty: all)"
	case "integration.billing", "integration.billing[]":
		return "must be a list of billing services: " + joinServices()
	case "products":
		return "must be an object mapping billing services to ConnectWise product identifiers"
	}
	return ""
}

func joinServices() string {
	s := make([]string, len(BillingServices))
	for i, b := range BillingServices {
		s[i] = string(b)
	}
	return strings.Join(s, ", ")
}
