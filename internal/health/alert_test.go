package health_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/efs-cw/backupbridge/internal/health"
)

// topic keeps what was published, and fails when told to.
type topic struct {
	subjects, messages []string
	fail               error
}

func (t *topic) Publish(_ context.Context, subject, message string) error {
	t.subjects, t.messages = append(t.subjects, subject), append(t.messages, message)
	return t.fail
}

// One alert is one ERROR line naming the partner and the reason, and one
// message on the topic with both; a topic that refuses leaves the line.
func TestAlertIsOneLineAndOneMessage(t *testing.T) {
	var buf bytes.Buffer
	tp := &topic{}
	al := &health.Alerter{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), Topic: tp}
	a := health.Alert{PartnerID: strings.Repeat("p", 90), PauseID: "pause-1", Code: "CW_AUTH_FAILED", Reason: "ConnectWise 401: keys refused", Since: t0}
	al.Alert(context.Background(), a)
	if n := strings.Count(buf.String(), `"msg":"partner paused"`); n != 1 || !strings.Contains(buf.String(), `"alarm":"PartnerPaused"`) ||
		!strings.Contains(buf.String(), "keys refused") || !strings.Contains(buf.String(), a.PartnerID) {
		t.Fatalf("log: %s", buf.String())
	}
	if len(tp.subjects) != 1 || utf8.RuneCountInString(tp.subjects[0]) > 100 || !strings.HasPrefix(tp.subjects[0], "BackupBridge: partner ppp") {
		t.Fatalf("subjects: %q (SNS allows 100 characters)", tp.subjects)
	}
	if m := tp.messages[0]; !strings.Contains(m, a.PartnerID) || !strings.Contains(m, "keys refused") || !strings.Contains(m, t0.Format(time.RFC3339)) {
		t.Fatalf("message: %s", m)
	}
	buf.Reset()
	tp.fail = errors.New("SNS refused")
	al.Alert(context.Background(), a)
	if !strings.Contains(buf.String(), `"msg":"partner paused"`) || !strings.Contains(buf.String(), "SNS refused") {
		t.Fatalf("a refused publish must leave the alarm line and say so: %s", buf.String())
	}
}
