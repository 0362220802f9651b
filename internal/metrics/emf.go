// Package metrics writes CloudWatch metrics in the Embedded Metric Format: a
// JSON log line that CloudWatch Logs turns into metrics, so the worker needs
// no PutMetricData call or permission.
package metrics

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Metric names.
const (
	// PushFailed counts pushes to ConnectWise that failed (permanently, or
	// transiently with a ConnectWise error). The PushFailuresAlarm watches it.
	PushFailed = "ConnectWisePushFailed"
	// PushSucceeded counts pushes that changed ConnectWise.
	PushSucceeded = "ConnectWisePushSucceeded"
	// ConnectWiseCalls counts HTTP calls made to ConnectWise.
	ConnectWiseCalls = "ConnectWiseCalls"
	// EventsParked counts messages parked because their partner is paused
	// (package health); PushFailed does not count them.
	EventsParked = "EventsParked"
	// ParkedEvents is the number of events a partner holds, written by the
	// health tick every minute for each partner that holds any.
	ParkedEvents = "ParkedEvents"
	// ParkedTooLong counts events held longer than the parked retention
	// (reported daily; they are kept).
	ParkedTooLong = "ParkedTooLong"
	// PartnersPaused counts pauses (one per pause; the PartnerPausedAlarm
	// watches it, and each pause also publishes its own message).
	PartnersPaused = "PartnersPaused"
	// DeadLettered counts messages that reached the dead-letter queue and
	// were recorded in the event log as dead_lettered.
	DeadLettered = "DeadLettered"
)

// EMF writes metric lines to W (stdout in Lambda).
type EMF struct {
	Namespace string
	W         io.Writer
	Now       func() time.Time
	mu        sync.Mutex
}

// Count writes one line with the given counts (dimensionless, so alarms on the
// metric name see every partner) and properties (searchable in Logs Insights,
// for example partnerId).
func (m *EMF) Count(counts map[string]float64, props map[string]string) {
	if m == nil || m.W == nil || len(counts) == 0 {
		return
	}
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	type def struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	var defs []def
	line := map[string]any{}
	for k, v := range props {
		line[k] = v
	}
	for name, v := range counts {
		defs = append(defs, def{Name: name, Unit: "Count"})
		line[name] = v
	}
	line["_aws"] = map[string]any{
		"Timestamp": now.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  m.Namespace,
			"Dimensions": [][]string{{}},
			"Metrics":    defs,
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _ = m.W.Write(append(b, '\n'))
}
