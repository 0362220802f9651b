package partner_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/table"
)

func newPartner(id string) *partner.Partner {
	return &partner.Partner{ID: id, SiteURL: "https://api-na.myconnectwise.net", CompanyID: "acme", Board: "B", NewStatus: "New"}
}

// TestStoreRoundTripsRules: an explicit empty rule list is stored and read
// back as no rules (it used to make every later Get fail), absent rules as
// the defaults Validate filled, and an update can go from one to the other.
func TestStoreRoundTripsRules(t *testing.T) {
	ctx := context.Background()
	db, tbl := localtest.Table(t)
	s := &partner.Store{DB: db, Table: tbl}

	empty := newPartner("no-rules")
	empty.Rules = []partner.Rule{}
	if err := empty.Validate(connectwise.SitePolicy{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, empty); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "no-rules")
	if err != nil {
		t.Fatalf("Get after creating with \"rules\": []: %v", err)
	}
	if got.Rules == nil || len(got.Rules) != 0 {
		t.Errorf("rules read back as %#v, want an empty list (no rules)", got.Rules)
	}

	dflt := newPartner("default-rules")
	if err := dflt.Validate(connectwise.SitePolicy{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, dflt); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "default-rules"); err != nil || len(got.Rules) != 2 {
		t.Fatalf("default rules: %+v, %v", got, err)
	}

	// Empty → some rules → empty again.
	got.Rules = []partner.Rule{{Action: partner.ActionSynchronize}}
	if err := s.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, err := s.Get(ctx, "no-rules"); err != nil || len(again.Rules) != 1 || again.Version != 2 {
		t.Fatalf("after update with one rule: %+v, %v", again, err)
	}
	got.Rules = []partner.Rule{}
	if err := s.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, err := s.Get(ctx, "no-rules"); err != nil || again.Rules == nil || len(again.Rules) != 0 {
		t.Fatalf("after update back to no rules: %+v, %v", again, err)
	}

	n := 0
	for p, err := range s.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if p.ID == "no-rules" && (p.Rules == nil || len(p.Rules) != 0) {
			t.Errorf("All: no-rules has %#v", p.Rules)
		}
	}
	if n != 2 {
		t.Errorf("All listed %d partners, want 2", n)
	}
}

// TestStoreEmptyListWrittenByDynamoDB: an item whose rules attribute is an
// empty list (what real DynamoDB stores for the code before the fix) reads
// as no rules.
func TestStoreEmptyListWrittenByDynamoDB(t *testing.T) {
	p, err := partner.UnmarshalItemForTest(map[string]types.AttributeValue{
		table.PK: table.S("PARTNERS"), table.SK: table.S("x"), "id": table.S("x"),
		"rules": &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
	})
	if err != nil || p.Rules == nil || len(p.Rules) != 0 {
		t.Fatalf("%#v, %v", p, err)
	}
}

// TestStoreUnreadablePartner: a stored partner that does not decode is a
// permanent, typed error that names the partner and the setting and says to
// fix it with PUT; All yields it and goes on to the next partner; a PUT
// (Update at the stored version) repairs it.
func TestStoreUnreadablePartner(t *testing.T) {
	ctx := context.Background()
	db, tbl := localtest.Table(t)
	s := &partner.Store{DB: db, Table: tbl}
	for _, id := range []string{"a-good", "b-broken", "c-good"} {
		p := newPartner(id)
		if err := p.Validate(connectwise.SitePolicy{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	// Damage b-broken's rules the way the review saw it: a string.
	localtest.DamagePartnerRules(t, db, tbl, "b-broken", "PARTNERS")

	_, err := s.Get(ctx, "b-broken")
	if !errors.Is(err, partner.ErrUnreadable) {
		t.Fatalf("Get: %v, want ErrUnreadable", err)
	}
	var ue *partner.UnreadableError
	if !errors.As(err, &ue) || ue.PartnerID != "b-broken" || ue.Field != "rules" {
		t.Fatalf("Get: %#v", err)
	}
	for _, want := range []string{"b-broken", "rules", "PUT /v1/admin/partners/b-broken", "version 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not say %q", err, want)
		}
	}
	if ue.Partial == nil || ue.Partial.SiteURL != "https://api-na.myconnectwise.net" || ue.Partial.CompanyID != "acme" || ue.Partial.Version != 1 {
		t.Errorf("partial = %+v", ue.Partial)
	}

	var ids []string
	bad := 0
	for p, err := range s.All(ctx) {
		if errors.Is(err, partner.ErrUnreadable) {
			bad++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	if bad != 1 || strings.Join(ids, ",") != "a-good,c-good" {
		t.Errorf("All: %d unreadable, read %v", bad, ids)
	}

	// The fix: PUT the complete partner at the stored version.
	fixed := newPartner("b-broken")
	fixed.Version = ue.Partial.Version
	if err := fixed.Validate(connectwise.SitePolicy{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, fixed); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Get(ctx, "b-broken"); err != nil || len(p.Rules) != 2 {
		t.Fatalf("after the fix: %+v, %v", p, err)
	}
}
