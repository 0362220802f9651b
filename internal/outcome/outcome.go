// Package outcome classifies what became of a piece of work, and so decides
// the fate of the SQS message that carried it:
//
//	transient  retry: the message goes back to the queue (batchItemFailures),
//	           and to the dead-letter queue after maxReceiveCount receives
//	permanent  record it in the event log with a code and a remedy, and
//	           acknowledge the message: retrying cannot help until a person
//	           fixes something (then they reprocess the event)
//	skipped    nothing to do, recorded with the reason
//
// Deep code says which with the constructors Permanent and Transient; Of
// classifies anything else (ConnectWise errors by status, unknown errors as
// transient, so that nothing is dropped).
package outcome

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/smithy-go"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// Kind is the fate of a piece of work.
type Kind int

// Kinds.
const (
	KindTransient Kind = iota
	KindPermanent
)

func (k Kind) String() string {
	if k == KindPermanent {
		return "permanent"
	}
	return "transient"
}

// Error codes an operator sees in the event log (the README lists them).
const (
	CodeManagementID     = "MANAGEMENT_ID_MISSING"
	CodeAuth             = "CW_AUTH_FAILED"
	CodeRejected         = "CW_REJECTED"
	CodeUnavailable      = "CW_UNAVAILABLE"
	CodeBoardNotFound    = "BOARD_NOT_FOUND"
	CodeStatusNotFound   = "STATUS_NOT_FOUND"
	CodeNoClosedStatus   = "NO_CLOSED_STATUS"
	CodePartnerNotFound  = "PARTNER_NOT_FOUND"
	CodePartnerSecrets   = "PARTNER_SECRETS_MISSING"
	CodeInvalidEvent     = "EVENT_INVALID"
	CodeInvalidSite      = "CW_SITE_URL_INVALID"
	CodeBusy             = "FAULT_BUSY"
	CodeInternal         = "INTERNAL"
	CodeCompanyNotLinked = CodeManagementID
)

// Codes of partner health (package health) and the dead-letter queue.
const (
	// CodePartnerPaused: the event is parked while its partner is paused;
	// it replays in order when the partner resumes (the entry says why the
	// partner was paused).
	CodePartnerPaused = "PARTNER_PAUSED"
	// CodeRateLimited: ConnectWise asked for a wait longer than the worker's
	// invocation (a 429 with a long Retry-After); the partner is paused
	// until then.
	CodeRateLimited = "CW_RATE_LIMITED"
	// CodeDeadLettered: the message exhausted its receives and reached the
	// dead-letter queue; redrive it after fixing the cause.
	CodeDeadLettered = "DEAD_LETTERED"
	// CodeOperatorPause: an operator paused the partner.
	CodeOperatorPause = "OPERATOR_PAUSE"
	// CodeAWSUnavailable: an AWS service the worker needs (DynamoDB, SQS,
	// Secrets Manager) failed or timed out: transient, and not counted
	// against the partner's ConnectWise.
	CodeAWSUnavailable = "AWS_UNAVAILABLE"
)

// CodePartnerUnreadable: the partner's stored settings do not decode
// (partner.ErrUnreadable); permanent until an operator rewrites them.
const CodePartnerUnreadable = "PARTNER_UNREADABLE"

// Error codes of the data sync (statistics, billing quantities, invoice
// descriptions): each is a per-item problem a person fixes in ConnectWise
// (or in the partner's settings); the rest of the sync goes ahead.
const (
	// CodeAdditionMissing: no active addition bills the service's product
	// with the serial number EFS-<customer id>.
	CodeAdditionMissing = "ADDITION_MISSING"
	// CodeAdditionDuplicate: two or more active additions do.
	CodeAdditionDuplicate = "ADDITION_DUPLICATE"
	// CodeAdditionCancelled: only a cancelled addition does.
	CodeAdditionCancelled = "ADDITION_CANCELLED"
	// CodeProductNotFound: the cross-referenced product is not in the catalog.
	CodeProductNotFound = "PRODUCT_NOT_FOUND"
	// CodeProductNotMapped: a billed service has no cross-referenced product.
	CodeProductNotMapped = "PRODUCT_NOT_MAPPED"
	// CodeProductShared: one product is cross-referenced by two billed services.
	CodeProductShared = "PRODUCT_SHARED"
	// CodeConfigTypeNotFound: the "Backup Stats" configuration type is missing.
	CodeConfigTypeNotFound = "CONFIGURATION_TYPE_NOT_FOUND"
	// CodeConfigDuplicate: two configurations carry one account's serial number.
	CodeConfigDuplicate = "CONFIGURATION_DUPLICATE"
	// CodeManagementSolution: the BackupStats row cannot be created because
	// no management row of the company names a management solution.
	CodeManagementSolution = "MANAGEMENT_SOLUTION_MISSING"
)

// Error carries a classification.
type Error struct {
	Kind       Kind
	Code       string
	Remedy     string
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying, with a code and the remedy in words.
func Permanent(code, remedy string, err error) error {
	return &Error{Kind: KindPermanent, Code: code, Remedy: remedy, Err: err}
}

// Transient marks err as worth retrying later.
func Transient(code string, err error) error {
	return &Error{Kind: KindTransient, Code: code, Err: err}
}

// Of classifies any error. Errors already classified keep their class;
// ConnectWise answers are classified by status; anything unknown is transient
// (the message returns to the queue and reaches the DLQ if it never succeeds:
// nothing is dropped).
func Of(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, connectwise.ErrUnauthorized):
		return &Error{Kind: KindPermanent, Code: CodeAuth, Err: err,
			Remedy: "ConnectWise refused the credentials: check the partner's company id, the API member's public/private keys (or integrator login) and its security role, then reprocess"}
	case errors.Is(err, partner.ErrUnreadable):
		return &Error{Kind: KindPermanent, Code: CodePartnerUnreadable, Err: err,
			Remedy: "the partner's stored settings cannot be read (the message names the setting): rewrite the complete partner with PUT /v1/admin/partners/{id} at its stored version, then reprocess (or wait for the daily resync)"}
	case isAWS(err):
		// DynamoDB, SQS or Secrets Manager did not answer (or refused): not
		// ConnectWise's doing, so it does not count towards pausing the
		// partner; retried like any transient failure.
		return &Error{Kind: KindTransient, Code: CodeAWSUnavailable, Err: err}
	case errors.Is(err, connectwise.ErrInvalidSiteURL):
		return &Error{Kind: KindPermanent, Code: CodeInvalidSite, Err: err,
			Remedy: "set the partner's ConnectWise site URL to an https:// address"}
	case connectwise.IsTransient(err):
		d, _ := connectwise.RetryAfter(err)
		return &Error{Kind: KindTransient, Code: CodeUnavailable, RetryAfter: d, Err: err}
	case connectwise.IsPermanent(err):
		return &Error{Kind: KindPermanent, Code: CodeRejected, Err: err,
			Remedy: "ConnectWise rejected the change; read its message, fix the record or setting it names in ConnectWise, then reprocess"}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &Error{Kind: KindTransient, Code: CodeUnavailable, Err: err}
	}
	return &Error{Kind: KindTransient, Code: CodeInternal, Err: err}
}

// isAWS reports whether err came from an AWS SDK call (its operation
// error wraps the cause, a timeout or a service error alike).
func isAWS(err error) bool {
	var oe *smithy.OperationError
	return errors.As(err, &oe)
}

// ConnectWiseMessage returns ConnectWise's own error text inside err, if any.
func ConnectWiseMessage(err error) string {
	var cw *connectwise.Error
	if errors.As(err, &cw) {
		msg := cw.Message
		for _, fe := range cw.Errors {
			msg += fmt.Sprintf("; %s: %s", fe.Field, fe.Message)
		}
		return msg
	}
	return ""
}
