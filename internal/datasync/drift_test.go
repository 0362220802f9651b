package datasync_test

import (
	"fmt"
	"testing"

	"github.com/efs-cw/backupbridge/internal/datasync"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
)

// held returns a sync's held values by field key (the next sync's Written).
func held(res datasync.Result) map[string]string {
	out := map[string]string{}
	for _, h := range res.Held {
		out[h.Key()] = h.Value
	}
	return out
}

// A person's edit of a billed quantity is a drift: found against the value
// the service last wrote, overwritten with the measured figure by default,
// left as the person set it with RespectManualEdits; a field with no
// baseline is not a drift, and an unedited one is not either.
func TestDriftAgainstTheLastWrittenValue(t *testing.T) {
	t.Parallel()
	for _, respect := range []bool{false, true} {
		t.Run(fmt.Sprintf("respect=%v", respect), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			req := e.acmeRequest(acmeAccounts(), acmeCustomer())
			first := e.sync(t, req)
			if len(first.Drifts) != 0 {
				t.Fatalf("first sync (no baseline) reported drifts %+v", first.Drifts)
			}
			written := held(first)
			sel := e.demo.Acme.Additions[cwsim.ProductSelectGB]
			qKey := datasync.FieldKey(e.demo.Acme.AgreementID, sel, "quantity")
			if written[qKey] != "131" {
				t.Fatalf("held %s = %q, want 131 (all held: %v)", qKey, written[qKey], written)
			}

			// Unedited: no drift, nothing written.
			req.Written = written
			if res := e.sync(t, req); len(res.Drifts) != 0 || len(res.Changes) != 0 {
				t.Fatalf("unedited: drifts %+v changes %+v", res.Drifts, res.Changes)
			}

			// A person sets the quantity to 100.
			e.do(t, "PATCH", fmt.Sprintf("finance/agreements/%d/additions/%d", e.demo.Acme.AgreementID, sel),
				[]map[string]any{{"op": "replace", "path": "quantity", "value": 100}})
			req.Partner.Integration.RespectManualEdits = respect
			res := e.sync(t, req)
			if len(res.Drifts) != 1 {
				t.Fatalf("drifts = %+v, want the one quantity edit", res.Drifts)
			}
			d := res.Drifts[0]
			if d.Field != "quantity" || d.Written != "131" || d.Found != "100" || d.Measured != "131" || d.Kept != respect ||
				d.Addition.AdditionID != sel || d.Addition.Product != cwsim.ProductSelectGB {
				t.Errorf("drift = %+v", d)
			}
			got := e.addition(t, cwsim.ProductSelectGB).Quantity
			_, stillHeld := held(res)[qKey]
			if respect {
				if got != 100 || len(res.Changes) != 0 || stillHeld {
					t.Errorf("respecting manual edits: quantity %v (want 100 kept), changes %+v, held %v", got, res.Changes, held(res))
				}
			} else {
				if got != 131 || len(res.Changes) != 1 || res.Changes[0].From != 100.0 || held(res)[qKey] != "131" {
					t.Errorf("overwriting: quantity %v (want 131), changes %+v, held %v", got, res.Changes, held(res))
				}
			}
		})
	}
}

// Without a baseline for a field, its value is only compared with the
// measured figure, as before drift existed (an addition the service never
// wrote cannot have drifted from it).
func TestNoBaselineNoDrift(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req := e.acmeRequest(acmeAccounts(), acmeCustomer())
	e.sync(t, req)
	sel := e.demo.Acme.Additions[cwsim.ProductSelectGB]
	e.do(t, "PATCH", fmt.Sprintf("finance/agreements/%d/additions/%d", e.demo.Acme.AgreementID, sel),
		[]map[string]any{{"op": "replace", "path": "quantity", "value": 100}})
	res := e.sync(t, req)
	if len(res.Drifts) != 0 || len(res.Changes) != 1 {
		t.Fatalf("drifts %+v changes %+v, want no drift and the quantity set back", res.Drifts, res.Changes)
	}
}
