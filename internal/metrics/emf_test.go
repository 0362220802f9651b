package metrics

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// A line is valid Embedded Metric Format: the _aws directive names the
// namespace, a dimensionless set and each metric, and the values are top-level.
func TestCountWritesEMF(t *testing.T) {
	var buf bytes.Buffer
	m := &EMF{Namespace: "BackupBridge", W: &buf, Now: func() time.Time { return time.UnixMilli(1700000000000) }}
	m.Count(map[string]float64{PushFailed: 1}, map[string]string{"partnerId": "demo"})
	var line struct {
		AWS struct {
			Timestamp         int64 `json:"Timestamp"`
			CloudWatchMetrics []struct {
				Namespace  string     `json:"Namespace"`
				Dimensions [][]string `json:"Dimensions"`
				Metrics    []struct{ Name, Unit string }
			} `json:"CloudWatchMetrics"`
		} `json:"_aws"`
		Failed  float64 `json:"ConnectWisePushFailed"`
		Partner string  `json:"partnerId"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not JSON: %v: %s", err, buf.String())
	}
	cw := line.AWS.CloudWatchMetrics
	if line.AWS.Timestamp != 1700000000000 || len(cw) != 1 || cw[0].Namespace != "BackupBridge" || len(cw[0].Dimensions) != 1 || len(cw[0].Dimensions[0]) != 0 {
		t.Fatalf("directive = %+v", line.AWS)
	}
	if len(cw[0].Metrics) != 1 || cw[0].Metrics[0].Name != PushFailed || line.Failed != 1 || line.Partner != "demo" {
		t.Fatalf("line = %s", buf.String())
	}
}

func TestNilEMFIsQuiet(t *testing.T) {
	var m *EMF
	m.Count(map[string]float64{PushFailed: 1}, nil) // must not panic
}
