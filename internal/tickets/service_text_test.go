package tickets

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/managedid"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// TestTextSentToConnectWiseIsClean opens, notes and resolves a ticket for
// an event full of hostile characters against the simulator (127.0.0.1)
// and reads back what ConnectWise stored: the summary, the initial
// description and every note are clean; descriptions and notes keep their
// line breaks; the summary keeps both the headline and the customer.
func TestTextSentToConnectWiseIsClean(t *testing.T) {
	ctx := context.Background()
	sim := cwsim.New(cwsim.Options{})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	demo := cwsim.SeedDemo(sim)
	hc, err := connectwise.NewHTTPClient(connectwise.HTTPClientOptions{RootCAs: sim.CertPool(), Policy: connectwise.SitePolicy{AllowLoopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	cw, err := connectwise.NewClient(ctx, connectwise.Options{
		SiteURL: sim.URL(), Codebase: cwsim.DefaultCodebase, HTTPClient: hc,
		Credentials: connectwise.Credentials{CompanyID: cwsim.DemoCompanyID, PublicKey: cwsim.DemoPublicKey, PrivateKey: cwsim.DemoPrivateKey, ClientID: cwsim.DemoClientID},
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := &Service{Faults: faultStore(t), Boards: &Boards{Now: clock}, Now: clock}
	target := Target{
		Partner:   &partner.Partner{ID: "demo", Board: "eFolder Backup", NewStatus: "New", Rules: partner.DefaultRules()},
		CW:        cw,
		Companies: &managedid.Directory{Now: clock},
	}
	customerID := strings.TrimPrefix(demo.Acme.ManagedID, contract.ManagedIDPrefix)
	// RTL override, isolate, zero-width space, BOM, NUL, ESC, DEL, C1 CSI
	evil := "\u202e\u2066\u200b\ufeff\x00\x1b\x7f\u009b"
	event := func(state contract.NotificationState) *contract.Event {
		return &contract.Event{
			SpecVersion: "1.0", Type: contract.TypeNotification, OccurredAt: now,
			Customer: contract.Customer{ID: customerID, Name: strings.Repeat("Acme"+evil+" Dental ", 30)},
			Notification: &contract.Notification{
				Kind: contract.NotifyBackupFailure, Severity: contract.SeverityError, State: state,
				Account: &contract.Account{ID: "SRV01", Name: "File" + evil + "\r\nserver"},
				Message: "VSS" + evil + "failed\u2028second line",
				Details: map[string]string{"volume" + evil: "C:" + evil},
			},
		}
	}
	apply := func(ev *contract.Event) Result {
		t.Helper()
		res := s.Apply(ctx, target, ev)
		if len(res) != 1 || res[0].Err != nil {
			t.Fatalf("Apply: %+v", res)
		}
		return res[0]
	}

	opened := apply(event(contract.StateRaised))
	if opened.Action != ActionOpened {
		t.Fatalf("first failure: %+v", opened)
	}
	now = now.Add(2 * time.Hour) // past NoteEvery: the next failure adds a note
	if r := apply(event(contract.StateRaised)); r.Action != ActionNoted {
		t.Fatalf("second failure: %+v", r)
	}
	now = now.Add(time.Hour)
	if r := apply(event(contract.StateCleared)); r.Action != ActionResolved {
		t.Fatalf("cleared: %+v", r)
	}

	tk, ok := sim.Ticket(opened.TicketID)
	if !ok {
		t.Fatalf("ticket %d not in the simulator", opened.TicketID)
	}
	checkSummary(t, "stored ticket", tk.Summary)
	if !strings.HasPrefix(tk.Summary, "Backup failed: File server – Acme Dental Acme Dental") || !strings.HasSuffix(tk.Summary, "…") {
		t.Errorf("summary = %q", tk.Summary)
	}
	texts := map[string]string{"initial description": tk.InitialDescription}
	notes := sim.Notes(opened.TicketID)
	if len(notes) < 2 {
		t.Fatalf("notes: %+v", notes)
	}
	for _, n := range notes {
		texts["note "+n.Text[:min(len(n.Text), 20)]] = n.Text
	}
	for name, text := range texts {
		if r, bad := hostile(text, false); bad {
			t.Errorf("%s holds %U: %q", name, r, text)
		}
		if !strings.Contains(text, "VSSfailed\nsecond line") || !strings.Contains(text, "volume: C:") {
			t.Errorf("%s lost its text or line breaks: %q", name, text)
		}
	}
}
