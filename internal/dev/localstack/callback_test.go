package localstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/tickets"
)

// ConnectWise callbacks (issue 11): the demo partner's callback is
// registered at the simulator; a technician's close is recorded on the
// fault as soon as ConnectWise's callback arrives (before any further
// event), a reopen too, and the next failure follows the partner's rule (one
// note). The doctor finds the registration sound.
func TestTechniciansCloseRecordedWithinSeconds(t *testing.T) {
	h := start(t)
	demo := h.st.Demo.Sim
	cbs := h.sim.Callbacks()
	if len(cbs) != 1 || cbs[0].Level != connectwise.CallbackLevelBoard || cbs[0].ObjectID != demo.BackupBoard.ID ||
		!strings.HasPrefix(cbs[0].URL, h.st.URL+"/v1/partners/demo/callbacks/") {
		t.Fatalf("registered callbacks = %+v, want one on the backup board pointing here", cbs)
	}
	if code, body := h.operator(http.MethodGet, "/v1/admin/partners/demo/callbacks", nil); code != http.StatusOK || body["ok"] != true {
		t.Fatalf("callback status: %d %v", code, body)
	}

	h.deliver(h.failure("ACME-SRV01"))
	tk := h.only()
	key := tickets.FaultKey{PartnerID: partner.DemoPartnerID, CustomerID: "1001", AccountID: "ACME-SRV01", Kind: "backup_failure"}
	// The callback about the service's own create was delivered and cost
	// no ConnectWise call: its ticket is as the fault has it.
	added := false
	for _, d := range h.sim.CallbackDeliveries() {
		added = added || (d.TicketID == tk.ID && d.Action == "added" && d.StatusCode == http.StatusOK)
	}
	if !added {
		t.Errorf("no delivered callback for the new ticket: %+v", h.sim.CallbackDeliveries())
	}
	for _, c := range h.sim.Calls() {
		if c.Method == http.MethodGet && c.Path == fmt.Sprintf("/service/tickets/%d", tk.ID) {
			t.Errorf("the ticket was read again (%s %s) after its own creation's callback", c.Method, c.Path)
		}
	}
	closedAt := time.Now()
	if err := h.sim.SetTicketStatus(tk.ID, demo.StatusClosed); err != nil {
		t.Fatal(err)
	}
	h.settle() // the callback's delivery and its message; no event is sent
	// Wall time from the close to the fault recorded (a figure for the
	// notes, not a timed assertion: the queue is polled at once here).
	t.Logf("technician's close → fault recorded: %v", time.Since(closedAt).Round(time.Millisecond))
	f, _, err := h.st.Service.Faults.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if f.State != tickets.StateClosedByHand || f.TicketID != tk.ID {
		t.Fatalf("fault after the technician's close = %+v, want closed by hand", f)
	}
	recorded := false
	for _, e := range h.ticketLog(false) {
		recorded = recorded || (e.EventType == "connectwise.callback" && strings.Contains(e.Message, "closed by a person"))
	}
	if !recorded {
		t.Errorf("the event log does not record the close: %+v", h.ticketLog(false))
	}
	delivered := false
	for _, d := range h.sim.CallbackDeliveries() {
		delivered = delivered || (d.TicketID == tk.ID && d.StatusCode == http.StatusOK && d.Signature != "")
	}
	if !delivered {
		t.Errorf("no signed delivery answered 200: %+v", h.sim.CallbackDeliveries())
	}

	// The technician reopens it: open again.
	if err := h.sim.SetTicketStatus(tk.ID, demo.BackupBoard.Statuses[0].ID); err != nil {
		t.Fatal(err)
	}
	h.settle()
	if f, _, _ := h.st.Service.Faults.Get(context.Background(), key); f.State != tickets.StateOpen {
		t.Errorf("fault after the reopen = %+v, want open", f)
	}

	// The doctor's view: a deleted registration is reported.
	if code, body := h.operator(http.MethodDelete, "/v1/admin/partners/demo/callbacks", nil); code != http.StatusOK || body["deleted"] != float64(1) {
		t.Fatalf("unregister: %d %v", code, body)
	}
	_, body := h.operator(http.MethodGet, "/v1/admin/partners/demo/doctor", nil)
	if raw, _ := json.Marshal(body); !strings.Contains(strings.ToLower(string(raw)), "no connectwise callback is registered") {
		t.Errorf("doctor does not report the missing registration: %v", body)
	}
	if code, body := h.operator(http.MethodPost, "/v1/admin/partners/demo/callbacks", nil); code != http.StatusOK || len(h.sim.Callbacks()) != 1 {
		t.Fatalf("register again: %d %v", code, body)
	}
}

// A forged callback is refused and changes nothing: a wrong token, a
// signature that does not verify, a key_url on another host. A replay of a
// real delivery is accepted and changes nothing (the worker re-reads the
// ticket).
func TestForgedCallbackRefused(t *testing.T) {
	h := start(t)
	h.deliver(h.failure("ACME-SRV01"))
	tk := h.only()
	url := h.sim.Callbacks()[0].URL
	var real []byte
	var realSig string
	for _, d := range h.sim.CallbackDeliveries() {
		if d.TicketID == tk.ID {
			real, realSig = d.Payload, d.Signature
		}
	}
	if real == nil {
		t.Fatal("no delivery for the new ticket")
	}
	post := func(u string, body []byte, sig string) int {
		req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if sig != "" {
			req.Header.Set(connectwise.CallbackSignatureHeader, sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// A close forged in the body: the ticket is still open in ConnectWise.
	forged := bytes.Replace(real, []byte(`"Action":"added"`), []byte(`"Action":"updated"`), 1)
	wrongToken := url[:strings.LastIndex(url, "/")+1] + strings.Repeat("0", 64)
	if code := post(wrongToken, real, realSig); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401", code)
	}
	if code := post(url, forged, realSig); code != http.StatusUnauthorized {
		t.Errorf("body changed under the signature: %d, want 401", code)
	}
	if code := post(url, forged, connectwise.SignCallback(forged, "not the key")); code != http.StatusUnauthorized {
		t.Errorf("signed with another key: %d, want 401", code)
	}
	otherHost := bytes.Replace(real, []byte("127.0.0.1"), []byte("127.0.0.2"), 1)
	if code := post(url, otherHost, connectwise.SignCallback(otherHost, "attacker key")); code != http.StatusUnauthorized {
		t.Errorf("key_url on another host: %d, want 401", code)
	}
	if code := post("http"+strings.TrimPrefix(h.st.URL, "http")+"/v1/partners/nobody/callbacks/x", real, realSig); code != http.StatusUnauthorized {
		t.Errorf("unknown partner: %d, want 401", code)
	}
	// The site has signed before: the real body without its signature is
	// refused.
	if code := post(url, real, ""); code != http.StatusUnauthorized {
		t.Errorf("unsigned, from a site that signs: %d, want 401", code)
	}
	// A replay of the real delivery: accepted, nothing changes.
	if code := post(url, real, realSig); code != http.StatusOK {
		t.Errorf("replay: %d, want 200", code)
	}
	h.settle()
	key := tickets.FaultKey{PartnerID: partner.DemoPartnerID, CustomerID: "1001", AccountID: "ACME-SRV01", Kind: "backup_failure"}
	if f, _, _ := h.st.Service.Faults.Get(context.Background(), key); f.State != tickets.StateOpen || f.TicketID != tk.ID {
		t.Errorf("fault after forged and replayed callbacks = %+v, want unchanged (open, ticket %d)", f, tk.ID)
	}
	if got := h.only(); got.ClosedFlag {
		t.Errorf("a forged callback closed the ticket")
	}
}
