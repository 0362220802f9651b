package connectwise_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
)

// Create a client for a cloud site (the codebase is looked up) and open a
// ticket, looking for it first so that a retry never makes a duplicate.
func ExampleNewClient() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cw, err := connectwise.NewClient(ctx, connectwise.Options{
		SiteURL: "https://api-na.myconnectwise.net",
		Credentials: connectwise.Credentials{
			CompanyID:  "acme",
			PublicKey:  "public-key",
			PrivateKey: "private-key",
			ClientID:   "00000000-0000-0000-0000-000000000000",
		},
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
		Summary:            "Backup failed: ACME-DC01",
		Company:            &connectwise.Reference{Identifier: "ACME"},
		Board:              &connectwise.Reference{ID: 7},
		Status:             &connectwise.Reference{ID: 71},
		ExternalXRef:       xref,
		InitialDescription: "The nightly backup of ACME-DC01 failed.",
	})
	switch {
	case errors.Is(err, connectwise.ErrUnauthorized):
		log.Fatal(err) // the message says which keys and role to check
	case connectwise.IsTransient(err):
		log.Print("try again later: ", err) // look the ticket up again before re-creating
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("opened ticket", ticket.ID)
	}
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
