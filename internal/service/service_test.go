package service

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigFromEnvNamesWhatIsMissing(t *testing.T) {
	_, err := ConfigFromEnv(env(nil), true)
	if err == nil || !strings.Contains(err.Error(), "TABLE_NAME, QUEUE_URL, SECRETS_PREFIX") {
		t.Fatalf("err = %v", err)
	}
	if _, err := ConfigFromEnv(env(map[string]string{"TABLE_NAME": "t", "SECRETS_PREFIX": "p/"}), false); err != nil {
		t.Fatalf("worker without QUEUE_URL: %v", err)
	}
	for k, v := range map[string]string{"EVENT_LOG_RETENTION_DAYS": "zero", "LOG_LEVEL": "LOUD"} {
		_, err := ConfigFromEnv(env(map[string]string{"TABLE_NAME": "t", "SECRETS_PREFIX": "p/", k: v}), false)
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: err = %v", k, v, err)
		}
	}
}

func TestConfigFromEnvDefaults(t *testing.T) {
	c, err := ConfigFromEnv(env(map[string]string{"TABLE_NAME": "t", "LOCAL_SECRETS_FILE": "/tmp/s.json", "EVENT_LOG_RETENTION_DAYS": "30", "LOG_LEVEL": "DEBUG"}), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsNamespace != "BackupBridge" || c.EventLogRetention != 30*24*time.Hour || c.LogLevel != slog.LevelDebug {
		t.Fatalf("config = %+v", c)
	}
}

func TestLoggerCarriesTheLambdaRequestID(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, slog.LevelInfo).With("function", "webhook")
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd"})
	log.InfoContext(ctx, "in an invocation", "n", 1)
	log.Info("outside any invocation")
	log.DebugContext(ctx, "below the level")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if first["requestId"] != "8476a536-e9f4-11e8-9739-2dfe598c3fcd" || first["msg"] != "in an invocation" || first["function"] != "webhook" || first["n"] != float64(1) {
		t.Errorf("line in an invocation = %s", lines[0])
	}
	if _, ok := second["requestId"]; ok || second["level"] != "INFO" {
		t.Errorf("line outside an invocation = %s", lines[1])
	}
}
