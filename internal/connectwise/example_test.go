package connectwise_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
)

// Build the HTTP client and a client for a site (the codebase is looked
// up), then open a ticket, looking for it first so that a retry never makes
// a duplicate. A stand-in for ConnectWise answers on 127.0.0.1 here, so the
// HTTP client trusts its certificate and allows loopback, as only local
// development does: a deployment leaves RootCAs nil (the system roots) and
// Policy zero (public addresses only).
func ExampleNewClient() {
	site := standIn()
	defer site.Close()
	roots := x509.NewCertPool()
	roots.AddCert(site.Certificate())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hc, err := connectwise.NewHTTPClient(connectwise.HTTPClientOptions{
		Timeout: 30 * time.Second,
		RootCAs: roots,
		Policy:  connectwise.SitePolicy{AllowLoopback: true},
	})
	if err != nil {
		log.Fatal(err)
	}
	cw, err := connectwise.NewClient(ctx, connectwise.Options{
		SiteURL: site.URL, // e.g. https://api-na.myconnectwise.net
		Credentials: connectwise.Credentials{
			CompanyID:  "acme",
			PublicKey:  "public-key",
			PrivateKey: "private-key",
			ClientID:   "00000000-0000-0000-0000-000000000000",
		},
		HTTPClient: hc,
	})
	if err != nil {
		log.Fatal(err)
	}

	xref := "efs:acme:dc01:backup-failed"
	conditions, err := connectwise.Build(connectwise.And(
		connectwise.Eq("externalXRef", xref),
		connectwise.Eq("closedFlag", false),
	))
	if err != nil {
		log.Fatal(err)
	}
	open, _, err := cw.Tickets.List(ctx, &connectwise.ListOptions{Conditions: conditions, PageSize: 1})
	if err != nil {
		log.Fatal(err)
	}
	if len(open) > 0 {
		fmt.Println("already open:", open[0].ID)
		return
	}

	ticket, _, err := cw.Tickets.Create(ctx, &connectwise.Ticket{
		Summary:            connectwise.Truncate(connectwise.CleanLine("Backup failed: ACME-DC01"), 100),
		Company:            &connectwise.Reference{Identifier: "ACME"},
		Board:              &connectwise.Reference{ID: 7},
		Status:             &connectwise.Reference{ID: 71},
		ExternalXRef:       xref,
		InitialDescription: connectwise.CleanText("The nightly backup of ACME-DC01 failed."),
	})
	switch {
	case errors.Is(err, connectwise.ErrUnauthorized):
		log.Fatal(err) // the message says which keys and role to check
	case connectwise.IsTransient(err):
		log.Print("try again later: ", err) // look the ticket up again before re-creating
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println(cw.BaseURL() == site.URL+"/v4_6_release/apis/3.0/", "opened ticket", ticket.ID)
	}
	// Output: true opened ticket 1042
}

// standIn answers the three calls of ExampleNewClient as ConnectWise does.
func standIn() *httptest.Server {
	mux := http.NewServeMux()
	answer := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, body)
		}
	}
	mux.Handle("GET /login/companyinfo/acme", answer(`{"CompanyName":"Acme MSP","Codebase":"v4_6_release/","CompanyID":"acme","IsCloud":true}`))
	mux.Handle("GET /v4_6_release/apis/3.0/service/tickets", answer(`[]`))
	mux.Handle("POST /v4_6_release/apis/3.0/service/tickets", answer(`{"id":1042}`))
	return httptest.NewTLSServer(mux)
}

// Build a conditions string from untrusted values: a value that could
// break out of its quotes is refused rather than escaped.
func ExampleBuild() {
	customer := "Müller & Söhne (Zürich)"
	cond, err := connectwise.Build(connectwise.And(
		connectwise.Eq("company/id", 42),
		connectwise.LikePrefix("company/name", customer),
		connectwise.Eq("closedFlag", false),
		connectwise.Or(connectwise.Eq("board/name", "Backup"), connectwise.Eq("board/id", 7)),
		connectwise.Ge("lastUpdated", time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)),
	))
	fmt.Println(cond, err)

	_, err = connectwise.Build(connectwise.Eq("company/name", `ACME" or id>0 or name="x`))
	fmt.Println(errors.Is(err, connectwise.ErrUnsafeConditionValue))
	// Output:
	// company/id=42 and company/name like "Müller & Söhne (Zürich)*" and closedFlag=false and (board/name="Backup" or board/id=7) and lastUpdated>=[2026-01-31T00:00:00Z] <nil>
	// true
}
