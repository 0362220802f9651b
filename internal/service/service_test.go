package service

import (
	"log/slog"
	"strings"
	"testing"
	"time"
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
