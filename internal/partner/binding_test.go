package partner_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/table"
)

// TestClientOptionsRefusesKeysBoundElsewhere: keys bound to another site or
// company are not put into client options (the error matches
// ErrKeysBoundElsewhere, names neither key, and says the work is retried);
// keys bound to the partner's site and company (compared normalised) and
// keys stored before the binding are used.
func TestClientOptionsRefusesKeysBoundElsewhere(t *testing.T) {
	t.Parallel()
	p := &partner.Partner{ID: "acme", SiteURL: "https://api-na.myconnectwise.net", CompanyID: "acme"}
	keys := partner.Secrets{PublicKey: "PUBLICKEY1", PrivateKey: "PRIVATEKEY1", ClientID: "client"}
	bound := func(site, company string) partner.Secrets {
		s := keys
		s.SiteURL, s.CompanyID = site, company
		return s
	}
	for _, c := range []struct {
		name string
		s    partner.Secrets
	}{
		{"unbound (stored before the binding)", keys},
		{"bound here", bound("https://api-na.myconnectwise.net", "acme")},
		{"bound here, written differently", bound("https://API-NA.myconnectwise.net:443/", " ACME ")},
	} {
		opts, err := p.ClientOptions(c.s)
		if err != nil || opts.Credentials.PrivateKey != "PRIVATEKEY1" || opts.Credentials.CompanyID != "acme" || opts.SiteURL != p.SiteURL {
			t.Errorf("%s: %+v, %v", c.name, opts, err)
		}
	}
	for _, c := range []struct {
		name, want string
		s          partner.Secrets
	}{
		{"other site", "https://eu.myconnectwise.net", bound("https://eu.myconnectwise.net", "acme")},
		{"other port", "https://api-na.myconnectwise.net:8443", bound("https://api-na.myconnectwise.net:8443", "acme")},
		{"other company", `"other"`, bound("https://api-na.myconnectwise.net", "other")},
		{"site only bound, other", "https://eu.myconnectwise.net", bound("https://eu.myconnectwise.net", "")},
	} {
		opts, err := p.ClientOptions(c.s)
		if !errors.Is(err, partner.ErrKeysBoundElsewhere) {
			t.Errorf("%s: %+v, %v; want ErrKeysBoundElsewhere", c.name, opts, err)
			continue
		}
		if opts.Credentials.PrivateKey != "" || opts.Credentials.PublicKey != "" {
			t.Errorf("%s: the refused options carry keys: %+v", c.name, opts.Credentials)
		}
		msg := err.Error()
		for _, want := range []string{c.want, "acme", "retried", "PUT /v1/admin/partners/acme"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: %q does not say %q", c.name, msg, want)
			}
		}
		if strings.Contains(msg, "PRIVATEKEY1") || strings.Contains(msg, "PUBLICKEY1") {
			t.Errorf("%s: the error repeats a key: %q", c.name, msg)
		}
	}
}

// TestBindRecordsSiteAndCompany: Bind records the partner's site and
// company, and the result is accepted for that partner only.
func TestBindRecordsSiteAndCompany(t *testing.T) {
	t.Parallel()
	p := &partner.Partner{ID: "acme", SiteURL: "https://api-na.myconnectwise.net", CompanyID: "acme"}
	s := partner.Secrets{PublicKey: "pub", PrivateKey: "priv", ClientID: "c"}
	s.Bind(p)
	if s.SiteURL != p.SiteURL || s.CompanyID != "acme" {
		t.Fatalf("Bind: %+v", s)
	}
	if _, err := p.ClientOptions(s); err != nil {
		t.Fatal(err)
	}
	moved := *p
	moved.SiteURL = "https://eu.myconnectwise.net"
	if _, err := moved.ClientOptions(s); !errors.Is(err, partner.ErrKeysBoundElsewhere) {
		t.Fatalf("keys bound to %s used for %s: %v", s.SiteURL, moved.SiteURL, err)
	}
}

// TestDecodeRequestRefusesBinding: the binding is the server's: a body
// cannot set it, and decoded secrets are unbound.
func TestDecodeRequestRefusesBinding(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"siteUrl", "companyId"} {
		body := `{"partner":{"id":"a"},"secrets":{"publicKey":"p","privateKey":"k","clientId":"c","` + key + `":"x"}}`
		_, _, err := partner.DecodeRequest(strings.NewReader(body))
		var ie *partner.InvalidError
		if !errors.As(err, &ie) || ie.Field != "secrets."+key || !strings.Contains(ie.Problem, "unknown field") {
			t.Errorf("secrets.%s in the body: %v, want refused as an unknown field", key, err)
		}
	}
	_, s, err := partner.DecodeRequest(strings.NewReader(`{"partner":{"id":"a"},"secrets":{"publicKey":"p","privateKey":"k","clientId":"c","webhookSecrets":["w"]}}`))
	if err != nil || s == nil || s.PublicKey != "p" || s.PrivateKey != "k" || s.ClientID != "c" || len(s.WebhookSecrets) != 1 || s.SiteURL != "" || s.CompanyID != "" {
		t.Fatalf("%+v, %v", s, err)
	}
}

// TestStoreReplaceUndo: undo puts the replaced record back exactly, an
// unreadable one included, and only if nobody wrote since; Delete removes
// a partner only at the given version.
func TestStoreReplaceUndo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tbl := localtest.Table(t)
	s := &partner.Store{DB: db, Table: tbl}
	p := newPartner("acme")
	if err := p.Validate(connectwise.SitePolicy{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, p); err != nil {
		t.Fatal(err)
	}

	// Stale version: nothing written, nothing to undo.
	stale := *p
	stale.Version = 7
	if undo, err := s.Replace(ctx, &stale); !errors.Is(err, partner.ErrConflict) || undo != nil || stale.Version != 7 {
		t.Fatalf("Replace at a stale version: %v", err)
	}
	if _, err := s.Replace(ctx, newPartner("nobody")); !errors.Is(err, partner.ErrNotFound) {
		t.Fatalf("Replace of an unknown partner: %v", err)
	}

	// Replace, then undo: back to version 1 and the old name.
	upd := *p
	upd.Name = "renamed"
	undo, err := s.Replace(ctx, &upd)
	if err != nil || upd.Version != 2 {
		t.Fatalf("Replace: %v (version %d)", err, upd.Version)
	}
	if got, _ := s.Get(ctx, "acme"); got.Name != "renamed" || got.Version != 2 {
		t.Fatalf("after Replace: %+v", got)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "acme"); err != nil || got.Name != p.Name || got.Version != 1 {
		t.Fatalf("after undo: %+v, %v", got, err)
	}

	// Someone else writes between Replace and undo: undo keeps their write.
	upd = *p
	upd.Name = "mine"
	if undo, err = s.Replace(ctx, &upd); err != nil {
		t.Fatal(err)
	}
	theirs := upd
	theirs.Name = "theirs"
	if err := s.Update(ctx, &theirs); err != nil {
		t.Fatal(err)
	}
	if err := undo(ctx); !errors.Is(err, partner.ErrConflict) {
		t.Fatalf("undo after another write: %v, want ErrConflict", err)
	}
	if got, _ := s.Get(ctx, "acme"); got.Name != "theirs" || got.Version != 3 {
		t.Fatalf("undo overwrote another write: %+v", got)
	}

	// An unreadable record is restored unreadable, as it was stored.
	localtest.DamagePartnerRules(t, db, tbl, "acme", "not a list")
	_, err = s.Get(ctx, "acme")
	var ue *partner.UnreadableError
	if !errors.As(err, &ue) {
		t.Fatalf("Get: %v", err)
	}
	fixed := newPartner("acme")
	fixed.Version = ue.Partial.Version
	if err := fixed.Validate(connectwise.SitePolicy{}); err != nil {
		t.Fatal(err)
	}
	if undo, err = s.Replace(ctx, fixed); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "acme"); err != nil {
		t.Fatalf("after the repair: %v", err)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tbl), Key: table.Key("PARTNERS", "acme")})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := out.Item["rules"].(*types.AttributeValueMemberS); !ok || r.Value != "not a list" {
		t.Fatalf("undo did not restore the stored record as it was: rules = %#v", out.Item["rules"])
	}

	// Delete: only at the given version.
	if err := s.Delete(ctx, "acme", 1); !errors.Is(err, partner.ErrConflict) {
		t.Fatalf("Delete at a stale version: %v", err)
	}
	if _, err := s.Get(ctx, "acme"); !errors.Is(err, partner.ErrUnreadable) {
		t.Fatalf("Delete at a stale version removed the partner: %v", err)
	}
	if err := s.Delete(ctx, "acme", 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "acme"); !errors.Is(err, partner.ErrNotFound) {
		t.Fatalf("after Delete: %v", err)
	}
	if err := s.Delete(ctx, "acme", 3); !errors.Is(err, partner.ErrConflict) {
		t.Fatalf("Delete of a deleted partner: %v", err)
	}
}
