package connectwise

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestEveryCallHitsItsEndpointWithAuthClientIDAndAccept calls every
// service method against a server that only knows that method's route, under
// the real base path, and checks the headers of every request.
func TestEveryCallHitsItsEndpointWithAuthClientIDAndAccept(t *testing.T) {
	t.Parallel()
	ops := []PatchOp{Replace("quantity", 0)}
	tests := []struct {
		name     string
		pattern  string // route below the base path
		wantPath string
		wantBody string // JSON the request must carry, "" for none
		answer   string
		call     func(context.Context, *Client) error
	}{
		{"Tickets.Create", "POST /service/tickets", "/service/tickets", `{"summary":"s","board":{"id":7},"company":{"id":42}}`, `{"id":1}`,
			func(ctx context.Context, c *Client) error {
				_, _, err := c.Tickets.Create(ctx, &Ticket{Summary: "s", Board: &Reference{ID: 7}, Company: &Reference{ID: 42}})
				return err
			}},
		{"Tickets.Get", "GET /service/tickets/{id}", "/service/tickets/42", "", `{"id":42}`,
			func(ctx context.Context, c *Client) error { _, _, err := c.Tickets.Get(ctx, 42); return err }},
		{"Tickets.List", "GET /service/tickets", "/service/tickets", "", `[]`,
			func(ctx context.Context, c *Client) error { _, _, err := c.Tickets.List(ctx, nil); return err }},
		{"Tickets.All", "GET /service/tickets", "/service/tickets", "", `[]`,
			func(ctx context.Context, c *Client) error {
				for _, err := range c.Tickets.All(ctx, ListOptions{}) {
					return err
				}
				return nil
			}},
		{"Tickets.Search", "POST /service/tickets/search", "/service/tickets/search", `{"conditions":"closedFlag=false"}`, `[]`,
			func(ctx context.Context, c *Client) error {
				_, _, err := c.Tickets.Search(ctx, "closedFlag=false", nil)
				return err
			}},
		{"Tickets.Patch", "PATCH /service/tickets/{id}", "/service/tickets/42", `[{"op":"replace","path":"quantity","value":0}]`, `{"id":42}`,
			func(ctx context.Context, c *Client) error { _, _, err := c.Tickets.Patch(ctx, 42, ops); return err }},
		{"Tickets.AddNote", "POST /service/tickets/{id}/notes", "/service/tickets/42/notes", `{"text":"t","resolutionFlag":true}`, `{"id":5}`,
			func(ctx context.Context, c *Client) error {
				_, _, err := c.Tickets.AddNote(ctx, 42, &TicketNote{Text: "t", ResolutionFlag: true})
				return err
			}},
		{"Tickets.ListNotes", "GET /service/tickets/{id}/notes", "/service/tickets/42/notes", "", `[]`,
			func(ctx context.Context, c *Client) error { _, _, err := c.Tickets.ListNotes(ctx, 42, nil); return err }},
		{"Companies.List", "GET /company/companies", "/company/companies", "", `[]`,
			func(ctx context.Context, c *Client) error { _, _, err := c.Companies.List(ctx, nil); return err }},
		{"Companies.All", "GET /company/companies", "/company/companies", "", `[]`,
			func(ctx context.Context, c *Client) error {
				for _, err := range c.Companies.All(ctx, ListOptions{}) {
					return err
				}
				return nil
			}},
		{"Companies.Get", "GET /company/companies/{id}", "/company/companies/42", "", `{"id":42}`,
			func(ctx context.Context, c *Client) error { _, _, err := c.Companies.Get(ctx, 42); return err }},
		{"Companies.ListManagementSummaries", "GET /company/companies/{id}/managementSummaryReports", "/company/companies/42/managementSummaryReports", "", `[]`,
			func(ctx context.Context, c *Client) error {
				_, _, err := c.Companies.ListManagementSummaries(ctx, 42, nil)
				return err
			}},
		{"Companies.CreateManagementSummary", "POST /company/companies/{id}/managementSummaryReports", "/company/companies/42/managementSummaryReports",
			`{"groupIdentifier":"EFS-9","deviceType":"BackupStats"}`, `{"id":3}`,
			func(ctx context.Context, c *Client) error {
				_, _, err := c.Companies.CreateManagementSummary(ctx, 42, &ManagementSummary{GroupIdentifier: "EFS-9", DeviceType: BackupStats})
				return err
			}},
		{"Companies.PatchManagementSummary", "PATCH /company/companies/{id}/managementSummaryReports/{rid}", "/company/companies/42/managementSummaryReports/3",
			`[{"op":"replace","path":"quantity","value":0}]`, `{"id":3}`,
			func(ctx context.Context, c *Client) error {
				_, _, err := c.Companies.PatchManagementSummary(ctx, 42, 3, ops)
				return err
			}},
		{"Boards.List", "GET /service/boards", "/service/boards", "", `[]`,
			func(ctx context.Context, c *Client) error { _, _, err := c.Boards.List(ctx, nil); return err }},
		{"Boards.Statuses", "GET /service/boards/{id}/statuses", "/service/boards/7/statuses", "", `[]`,
			func(ctx context.Context, c *Client) error { _, _, err := c.Boards.Statuses(ctx, 7, nil); return err }},
		{"Boards.Types", "GET /service/boards/{id}/types", "/service/boards/7/types", "", `[]`,
			func(ctx context.Context, c *Client) error { _, _, err := c.Boards.Types(ctx, 7, nil); return err }},
		{"Boards.Priorities", "GET /service/priorities", "/service/priorities", "", `[]`,
			func(ctx context.Context, c *Client) error { _, _, err := c.Boards.Priorities(ctx, nil); return err }},
		{"Agreements.List", "GET /finance/agreements", "/finance/agreements", "", `[]`,
			func(ctx context.Context, c *Client) error { _, _, err := c.Agreements.List(ctx, nil); return err }},
		{"Agreements.All", "GET /finance/agreements", "/finance/agreements", "", `[]`,
			func(ctx context.Context, c *Client) error {
				for _, err := range c.Agreements.All(ctx, ListOptions{}) {
					return err
				}
				return nil
			}},
		{"Agreements.Additions", "GET /finance/agreements/{id}/additions", "/finance/agreements/8/additions", "", `[]`,
			func(ctx context.Context, c *Client) error {
				_, _, err := c.Agreements.Additions(ctx, 8, nil)
				return err
			}},
		{"Agreements.PatchAddition", "PATCH /finance/agreements/{id}/additions/{aid}", "/finance/agreements/8/additions/9",
			`[{"op":"replace","path":"quantity","value":0}]`, `{"id":9}`,
			func(ctx context.Context, c *Client) error {
				_, _, err := c.Agreements.PatchAddition(ctx, 8, 9, ops)
				return err
			}},
		{"Catalog.List", "GET /procurement/catalog", "/procurement/catalog", "", `[]`,
			func(ctx context.Context, c *Client) error { _, _, err := c.Catalog.List(ctx, nil); return err }},
		{"Configurations.List", "GET /company/configurations", "/company/configurations", "", `[]`,
			func(ctx context.Context, c *Client) error { _, _, err := c.Configurations.List(ctx, nil); return err }},
		{"Configurations.Create", "POST /company/configurations", "/company/configurations", `{"name":"DC01","type":{"id":2},"company":{"id":42}}`, `{"id":11}`,
			func(ctx context.Context, c *Client) error {
				_, _, err := c.Configurations.Create(ctx, &Configuration{Name: "DC01", Type: &Reference{ID: 2}, Company: &Reference{ID: 42}})
				return err
			}},
		{"Configurations.Patch", "PATCH /company/configurations/{id}", "/company/configurations/11", `[{"op":"replace","path":"quantity","value":0}]`, `{"id":11}`,
			func(ctx context.Context, c *Client) error {
				_, _, err := c.Configurations.Patch(ctx, 11, ops)
				return err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeCW(t)
			var hits atomic.Int32
			f.api.HandleFunc(tt.pattern, func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if r.URL.Path != tt.wantPath {
					t.Errorf("path = %q, want %q", r.URL.Path, tt.wantPath)
				}
				body, _ := io.ReadAll(r.Body)
				if tt.wantBody == "" && len(body) > 0 {
					t.Errorf("unexpected body %s", body)
				}
				if tt.wantBody != "" && !jsonEqual(t, body, []byte(tt.wantBody)) {
					t.Errorf("body = %s, want %s", body, tt.wantBody)
				}
				reply(w, http.StatusOK, []byte(tt.answer))
			})
			if err := tt.call(context.Background(), f.client()); err != nil {
				t.Fatalf("call: %v (requests: %v)", err, f.callList())
			}
			if hits.Load() != 1 {
				t.Fatalf("route hit %d times, want 1 (requests: %v)", hits.Load(), f.callList())
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Errorf("not JSON: %s", a)
		return false
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("bad want JSON %s", b)
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}

func TestWrongBasePathFails(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	f.api.HandleFunc("GET /service/tickets/{id}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, []byte(`{"id":1}`))
	})
	c := f.client()
	req, err := c.NewRequest(context.Background(), http.MethodGet, "service/tickets/1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Path = "/apis/3.0/service/tickets/1" // codebase missing
	_, err = c.Do(req, nil)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want a 404", err)
	}
}

func TestNewClientSiteURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		site    string
		wantErr string // exact message, or "" for success
		contain string // substring of the message
	}{
		{site: "http://x", wantErr: `ConnectWise site URL "http://x" must start with https:// (ConnectWise only accepts SSL)`},
		{site: "HTTP://api-na.myconnectwise.net", contain: "must start with https://"},
		{site: "api-na.myconnectwise.net", contain: "must start with https://"},
		{site: "", contain: "is empty"},
		{site: "https://", contain: "has no host"},
		{site: "https://api-na.myconnectwise.net/v4_6_release/", contain: "without the path /v4_6_release"},
		{site: "https://api-na.myconnectwise.net/v4_6_release/apis/3.0", contain: "must be the host only"},
		{site: "https://api-na.myconnectwise.net?company=acme", contain: "without a query"},
		{site: "https://bob:hunter2@api-na.myconnectwise.net", contain: "must not contain a user name or password"},
		{site: "http://bob:hunter2@api-na.myconnectwise.net", contain: "must start with https://"},
		// addresses no ConnectWise site has are refused whatever the client
		{site: "https://169.254.169.254", contain: "169.254.169.254 is a link-local address"},
		{site: "https://[::ffff:169.254.169.254]/", contain: "link-local"},
		{site: "https://[fd00:ec2::254]", contain: "fd00:ec2::254 is a unique local IPv6 address"},
		{site: "https://0.0.0.0:443", contain: "unspecified"},
		{site: "https://10.1.2.3", contain: "private"},
		{site: "https://127.1", contain: "not a host name"},
		{site: "https://api-na.myconnectwise.net"},
		{site: "https://api-na.myconnectwise.net/"},
		{site: "  https://api-na.myconnectwise.net/  "},
	}
	for _, tt := range tests {
		t.Run(tt.site, func(t *testing.T) {
			t.Parallel()
			c, err := NewClient(context.Background(), Options{SiteURL: tt.site, Codebase: "v4_6_release", Credentials: testCreds})
			if tt.wantErr == "" && tt.contain == "" {
				if err != nil {
					t.Fatalf("NewClient: %v", err)
				}
				if got, want := c.BaseURL(), "https://api-na.myconnectwise.net/v4_6_release/apis/3.0/"; got != want {
					t.Fatalf("BaseURL = %q, want %q", got, want)
				}
				return
			}
			if err == nil {
				t.Fatal("NewClient accepted the site URL")
			}
			if !errors.Is(err, ErrInvalidSiteURL) || !IsPermanent(err) {
				t.Errorf("err %v: not ErrInvalidSiteURL / permanent", err)
			}
			if tt.wantErr != "" && err.Error() != tt.wantErr {
				t.Errorf("err = %q\nwant  %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.contain) {
				t.Errorf("err = %q, want it to contain %q", err, tt.contain)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("err %q shows the password of the URL", err)
			}
		})
	}
}

func TestNewClientChecksOptions(t *testing.T) {
	t.Parallel()
	site := "https://api-na.myconnectwise.net"
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	tests := []struct {
		name    string
		opts    Options
		contain string
	}{
		{"missing keys", Options{SiteURL: site, Codebase: "v4_6_release/", Credentials: Credentials{CompanyID: "acme"}}, "missing public key, private key, clientId"},
		{"colon in public key", Options{SiteURL: site, Codebase: "v4_6_release/", Credentials: Credentials{CompanyID: "acme", PublicKey: "a:b", PrivateKey: "p", ClientID: "c"}}, "must not contain ':'"},
		{"bad codebase", Options{SiteURL: site, Codebase: "../admin", Credentials: testCreds}, "not a release folder"},
		{"bad version", Options{SiteURL: site, Codebase: "v4_6_release/", Credentials: testCreds, APIVersion: "2025.1\r\nX-Evil: 1"}, "not a version"},
		{"insecure TLS", Options{SiteURL: site, Codebase: "v4_6_release/", Credentials: testCreds, HTTPClient: insecure}, "InsecureSkipVerify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewClient(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.contain) {
				t.Fatalf("err = %v, want one containing %q", err, tt.contain)
			}
		})
	}
}

func TestNewClientCodebaseForms(t *testing.T) {
	t.Parallel()
	for _, cb := range []string{"v2025_1", "v2025_1/", "/v2025_1/"} {
		c, err := NewClient(context.Background(), Options{SiteURL: "https://x.example", Codebase: cb, Credentials: testCreds})
		if err != nil {
			t.Fatalf("%q: %v", cb, err)
		}
		if got := c.BaseURL(); got != "https://x.example/v2025_1/apis/3.0/" {
			t.Errorf("%q: BaseURL = %q", cb, got)
		}
	}
}

func TestNewClientLooksUpCodebase(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	var lookups atomic.Int32
	f.root.HandleFunc("GET /login/companyinfo/{id}", func(w http.ResponseWriter, r *http.Request) {
		lookups.Add(1)
		if id := r.PathValue("id"); id != testCompanyID {
			t.Errorf("company id = %q", id)
		}
		if r.Header.Get("Authorization") != "" || r.Header.Get("clientId") != "" {
			t.Error("company info lookup sent credentials")
		}
		reply(w, http.StatusOK, fixture(t, "companyinfo.json"))
	})
	f.api.HandleFunc("GET /service/tickets/{id}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, fixture(t, "ticket.json"))
	})
	c := f.client(func(o *Options) { o.Codebase = "" })
	if got, want := c.BaseURL(), f.srv.URL+"/v4_6_release/apis/3.0/"; got != want {
		t.Fatalf("BaseURL = %q, want %q", got, want)
	}
	tk, _, err := c.Tickets.Get(context.Background(), 1042)
	if err != nil {
		t.Fatal(err)
	}
	if tk.ID != 1042 || lookups.Load() != 1 {
		t.Fatalf("ticket %d, lookups %d", tk.ID, lookups.Load())
	}
}

func TestLookupCompanyInfo(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	f.root.HandleFunc("GET /login/companyinfo/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "acme" {
			reply(w, http.StatusOK, fixture(t, "companyinfo.json"))
			return
		}
		reply(w, http.StatusOK, []byte(`{"CompanyName":null,"Codebase":null,"VersionCode":null,"CompanyID":null,"IsCloud":false}`))
	})
	info, err := LookupCompanyInfo(context.Background(), f.srv.Client(), f.srv.URL+"/", "acme")
	if err != nil {
		t.Fatal(err)
	}
	want := CompanyInfo{CompanyName: "Acme MSP", Codebase: "v4_6_release/", VersionCode: "v2025.1", CompanyID: "acme", IsCloud: true}
	if *info != want {
		t.Fatalf("info = %+v, want %+v", *info, want)
	}
	_, err = LookupCompanyInfo(context.Background(), f.srv.Client(), f.srv.URL, "nobody")
	if err == nil || !strings.Contains(err.Error(), "check the company ID") {
		t.Fatalf("unknown company: err = %v", err)
	}
	_, err = NewClient(context.Background(), Options{SiteURL: f.srv.URL, Credentials: Credentials{CompanyID: "nobody", PublicKey: "a", PrivateKey: "b", ClientID: "c"}, HTTPClient: f.srv.Client()})
	if err == nil || !strings.Contains(err.Error(), "check the company ID") || !strings.Contains(err.Error(), "Options.Codebase") {
		t.Fatalf("NewClient with unknown company: err = %v", err)
	}
	if _, err := LookupCompanyInfo(context.Background(), nil, "http://x", "acme"); !errors.Is(err, ErrInvalidSiteURL) {
		t.Fatalf("http site: err = %v", err)
	}
}

// TestCodebaseMovedIsLookedUpAgainOnce: the codebase came from the lookup,
// the API answers a non-ConnectWise 404, the client looks the codebase up
// again, and sends the request (body included) once more to the new base.
func TestCodebaseMovedIsLookedUpAgainOnce(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	var lookups atomic.Int32
	f.root.HandleFunc("GET /login/companyinfo/{id}", func(w http.ResponseWriter, r *http.Request) {
		if lookups.Add(1) == 1 {
			reply(w, http.StatusOK, []byte(`{"Codebase":"v2024_1/","CompanyID":"acme"}`))
			return
		}
		reply(w, http.StatusOK, fixture(t, "companyinfo.json"))
	})
	f.root.HandleFunc("/v2024_1/", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNotFound, fixture(t, "not_found.html"))
	})
	f.api.HandleFunc("POST /service/tickets", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !jsonEqual(t, body, []byte(`{"summary":"moved"}`)) {
			t.Errorf("body after relocation = %s", body)
		}
		reply(w, http.StatusCreated, fixture(t, "ticket.json"))
	})
	c := f.client(func(o *Options) { o.Codebase = "" })
	if !strings.Contains(c.BaseURL(), "/v2024_1/") {
		t.Fatalf("BaseURL = %q", c.BaseURL())
	}
	tk, _, err := c.Tickets.Create(context.Background(), &Ticket{Summary: "moved"})
	if err != nil {
		t.Fatalf("Create: %v (calls %v)", err, f.callList())
	}
	if tk.ID != 1042 || lookups.Load() != 2 {
		t.Fatalf("ticket %d, lookups %d", tk.ID, lookups.Load())
	}
	want := []string{
		"GET /login/companyinfo/acme",
		"POST /v2024_1/apis/3.0/service/tickets",
		"GET /login/companyinfo/acme",
		"POST /v4_6_release/apis/3.0/service/tickets",
	}
	if got := f.callList(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(c.BaseURL(), "/v4_6_release/") {
		t.Fatalf("BaseURL after relocation = %q", c.BaseURL())
	}
}

func TestCodebaseNotLookedUpAgainForAConnectWise404(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	var lookups atomic.Int32
	f.root.HandleFunc("GET /login/companyinfo/{id}", func(w http.ResponseWriter, r *http.Request) {
		lookups.Add(1)
		reply(w, http.StatusOK, fixture(t, "companyinfo.json"))
	})
	f.api.HandleFunc("GET /service/tickets/{id}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNotFound, fixture(t, "error_not_found.json"))
	})
	c := f.client(func(o *Options) { o.Codebase = "" })
	_, _, err := c.Tickets.Get(context.Background(), 99)
	if !errors.Is(err, ErrNotFound) || !IsPermanent(err) {
		t.Fatalf("err = %v", err)
	}
	if lookups.Load() != 1 || len(f.callList()) != 2 {
		t.Fatalf("lookups %d, calls %v", lookups.Load(), f.callList())
	}
	if got := err.Error(); got != "ConnectWise 404 NotFound on GET service/tickets/99: Ticket with id 99 was not found." {
		t.Fatalf("Error() = %q", got)
	}
}

func TestCodebaseUnchangedFailsAfterOneLookup(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	var lookups atomic.Int32
	f.root.HandleFunc("GET /login/companyinfo/{id}", func(w http.ResponseWriter, r *http.Request) {
		lookups.Add(1)
		reply(w, http.StatusOK, []byte(`{"Codebase":"v2024_1/"}`))
	})
	c := f.client(func(o *Options) { o.Codebase = "" })
	_, _, err := c.Tickets.Get(context.Background(), 1)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	if lookups.Load() != 2 || len(f.callList()) != 3 {
		t.Fatalf("lookups %d, calls %v", lookups.Load(), f.callList())
	}
	// A codebase that was given is never looked up.
	f2 := newFakeCW(t)
	c2 := f2.client(func(o *Options) { o.Codebase = "v2024_1/" })
	if _, _, err := c2.Tickets.Get(context.Background(), 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	if got := f2.callList(); len(got) != 1 {
		t.Fatalf("calls = %v, want just the one", got)
	}
}

func TestNewRequest(t *testing.T) {
	t.Parallel()
	c, err := NewClient(context.Background(), Options{SiteURL: "https://x.example", Codebase: "v4_6_release/", Credentials: testCreds})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "/service/tickets", "https://evil.example/x", "//evil.example/x", "../../login", "service/../../x"} {
		if _, err := c.NewRequest(context.Background(), http.MethodGet, bad, nil); err == nil {
			t.Errorf("NewRequest(%q) accepted", bad)
		}
	}
	req, err := c.NewRequest(context.Background(), http.MethodGet, "service/tickets?page=2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := req.URL.String(); got != "https://x.example/v4_6_release/apis/3.0/service/tickets?page=2" {
		t.Errorf("URL = %q", got)
	}
	if req.Header.Get("Content-Type") != "" {
		t.Error("Content-Type set without a body")
	}
	req, err = c.NewRequest(context.Background(), http.MethodPost, "service/tickets", map[string]int{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	if req.Header.Get("Content-Type") != "application/json" || req.GetBody == nil {
		t.Error("body request without Content-Type or GetBody")
	}
}

func TestDoRefusesAnotherHost(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer other.Close()
	f := newFakeCW(t)
	c := f.client()
	req, _ := http.NewRequest(http.MethodGet, other.URL+"/v4_6_release/apis/3.0/service/tickets", nil)
	if _, err := c.Do(req, nil); err == nil {
		t.Fatal("Do sent a request to another host")
	}
	if hits.Load() != 0 {
		t.Fatal("request reached the other host")
	}
}

func TestAPIVersionHeader(t *testing.T) {
	t.Parallel()
	c, err := NewClient(context.Background(), Options{SiteURL: "https://x.example", Codebase: "v4_6_release/", Credentials: testCreds, APIVersion: "2024.2"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := c.NewRequest(context.Background(), http.MethodGet, "service/tickets", nil)
	if got := req.Header.Get("Accept"); got != "application/vnd.connectwise.com+json; version=2024.2" {
		t.Fatalf("Accept = %q", got)
	}
}

func TestDecodeTicketFixture(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	f.api.HandleFunc("GET /service/tickets/{id}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, fixture(t, "ticket.json"))
	})
	tk, resp, err := f.client().Tickets.Get(context.Background(), 1042)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d", resp.StatusCode)
	}
	if tk.Summary != "Backup failed: ACME-DC01" || tk.Board.ID != 7 || tk.Status.Name != "New" || tk.Company.Identifier != "ACME" ||
		tk.Priority.ID != 3 || tk.Type.Name != "Backup" || tk.ExternalXRef != "efs:acme:dc01:backup-failed" || tk.ClosedFlag ||
		tk.Info["lastUpdated"] != "2026-01-31T10:15:00Z" {
		t.Fatalf("ticket = %+v", tk)
	}
}
