// Package queue defines the message that travels on the events queue between
// the webhook (and the resync and operator API) and the worker, and the SQS
// adapter that sends it.
package queue

import (
	"encoding/json"
	"time"
)

// MessageVersion is the version of Message this code writes and reads.
const MessageVersion = 1

// Job says what the worker is asked to do with a message.
type Job string

// Jobs.
const (
	// JobEvent processes an event delivered by the webhook.
	JobEvent Job = "event"
	// JobReprocess processes a stored event again on an operator's or the
	// resync's request (after a mapping was fixed, for example).
	JobReprocess Job = "reprocess"
	// JobSync syncs one customer's data to ConnectWise (the resync's daily
	// sync, or an operator's "sync now" with Force).
	JobSync Job = "sync"
	// JobProbe asks the worker to probe a paused partner's ConnectWise with
	// one cheap read and resume the partner if it answers (package health;
	// sent by the health tick when a probe is due, and by the operator API
	// when new keys are saved).
	JobProbe Job = "probe"
	// JobReplay asks the worker to replay one customer's parked events in
	// their arrival order (package health; sent when a partner resumes).
	JobReplay Job = "replay"
	// JobTicketChanged asks the worker to re-read a ticket a ConnectWise
	// callback named and record what a person did to it (package callback;
	// TicketID, and Event: the callback's body as received, a hint only).
	JobTicketChanged Job = "ticket-changed"
)

// Message is the body of one SQS message on the events queue.
type Message struct {
	Version   int    `json:"v"`
	Job       Job    `json:"job"`
	PartnerID string `json:"partnerId"`
	EventID   string `json:"eventId"`
	// RequestID identifies a reprocess request (so that one request is one
	// reprocessing however often it is delivered); empty for JobEvent.
	RequestID  string          `json:"requestId,omitempty"`
	ReceivedAt time.Time       `json:"receivedAt"`
	Event      json.RawMessage `json:"event,omitempty"`
	// CustomerID names the customer of a JobSync.
	CustomerID string `json:"customerId,omitempty"`
	// Force: sync even inside the 12-hour window (an operator's request).
	Force bool `json:"force,omitempty"`
	// TicketID is a JobTicketChanged's ticket.
	TicketID int `json:"ticketId,omitempty"`
}

// ClaimPrefix starts the partition key of the worker's record of a
// message's work (package claim; the key is ClaimKey): the worker writes it
// when the work is done, and the webhook reads it to answer a repeated
// delivery as a duplicate.
const ClaimPrefix = "EVENT#"

// ClaimKey is the idempotency key of the work the message asks for: the same
// event delivered twice is one piece of work; each reprocess request is its own.
func (m *Message) ClaimKey() string {
	switch m.Job {
	case JobReprocess:
		return "reprocess#" + m.PartnerID + "#" + m.EventID + "#" + m.RequestID
	case JobSync:
		return "sync#" + m.PartnerID + "#" + m.CustomerID + "#" + m.RequestID
	case JobTicketChanged:
		return "callback#" + m.PartnerID + "#" + m.EventID
	case JobProbe, JobReplay:
		// Not claimed: a probe is a read, and a replay takes each parked
		// event's own claim in order.
		return string(m.Job) + "#" + m.PartnerID + "#" + m.CustomerID + "#" + m.RequestID
	}
	return "event#" + m.PartnerID + "#" + m.EventID
}
