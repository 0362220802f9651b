package outcome_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
)

func TestOfClassifies(t *testing.T) {
	cases := []struct {
		name string
		err  error
		kind outcome.Kind
		code string
	}{
		{"explicit permanent", outcome.Permanent(outcome.CodeManagementID, "fix it", errors.New("x")), outcome.KindPermanent, outcome.CodeManagementID},
		{"wrapped permanent", fmt.Errorf("open: %w", outcome.Permanent(outcome.CodeBoardNotFound, "r", errors.New("x"))), outcome.KindPermanent, outcome.CodeBoardNotFound},
		{"unauthorized", &connectwise.Error{StatusCode: 401, Code: "Unauthorized"}, outcome.KindPermanent, outcome.CodeAuth},
		{"bad request", &connectwise.Error{StatusCode: 400, Code: "InvalidObject", Message: "summary too long"}, outcome.KindPermanent, outcome.CodeRejected},
		{"server error", &connectwise.Error{StatusCode: 503}, outcome.KindTransient, outcome.CodeUnavailable},
		{"deadline", context.DeadlineExceeded, outcome.KindTransient, outcome.CodeUnavailable},
		{"unknown", errors.New("boom"), outcome.KindTransient, outcome.CodeInternal},
		// A DynamoDB timeout is not ConnectWise's: it must not count towards
		// pausing the partner (the chaos run on a loaded machine found it did).
		{"AWS timeout", fmt.Errorf("claim: %w", &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "UpdateItem", Err: context.DeadlineExceeded}), outcome.KindTransient, outcome.CodeAWSUnavailable},
		{"unreadable partner", fmt.Errorf("load: %w", &partner.UnreadableError{PartnerID: "p", Field: "rules", Partial: &partner.Partner{}, Err: errors.New("x")}), outcome.KindPermanent, outcome.CodePartnerUnreadable},
	}
	for _, c := range cases {
		got := outcome.Of(c.err)
		if got.Kind != c.kind || got.Code != c.code {
			t.Errorf("%s: %v/%s, want %v/%s", c.name, got.Kind, got.Code, c.kind, c.code)
		}
		if got.Kind == outcome.KindPermanent && got.Remedy == "" {
			t.Errorf("%s: permanent without a remedy", c.name)
		}
	}
}

func TestConnectWiseMessage(t *testing.T) {
	err := fmt.Errorf("create: %w", &connectwise.Error{StatusCode: 400, Message: "Ticket object is invalid", Errors: []connectwise.FieldError{{Field: "summary", Message: "too long"}}})
	if got := outcome.ConnectWiseMessage(err); got != "Ticket object is invalid; summary: too long" {
		t.Fatalf("message = %q", got)
	}
}
