package localaws

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"

	"github.com/truora/minidyn/server"
)

// DynamoServer is an in-process DynamoDB stand-in: minidyn's HTTP server on a
// loopback port, spoken to by the real SDK client.
type DynamoServer struct {
	srv     *httptest.Server
	minidyn *server.Server
	once    sync.Once
}

// StartDynamoDB starts minidyn on a free loopback port.
//
// Every request is served under one mutex. minidyn v0.8.2 guards item
// operations with its own lock but reads and writes its table map in
// CreateTable, UpdateTable, DeleteTable and DescribeTable without it, so a
// DescribeTable racing a PutItem is a data race (and go test -race, which
// instruments minidyn in process, reports it). Serializing keeps the
// semantics DynamoDB gives a single item (one conditional write wins) and
// costs nothing at local volumes.
func StartDynamoDB() (*DynamoServer, error) {
	md := server.NewServer()
	d := &DynamoServer{minidyn: md}
	d.srv = httptest.NewServer(serialize(md))
	return d, nil
}

// Endpoint is the base URL to give DynamoClient.
func (d *DynamoServer) Endpoint() string { return d.srv.URL }

// Minidyn returns the underlying minidyn server, for its failure emulation
// (EmulateFailure, EmulateUnprocessedItems) and ClearAllTables.
func (d *DynamoServer) Minidyn() *server.Server { return d.minidyn }

// Close stops the server and drops every table. It is safe to call twice.
func (d *DynamoServer) Close() {
	d.once.Do(d.srv.Close)
}

// maxDynamoRequest bounds a request body read before taking the lock
// (DynamoDB's own limit is 16 MB for BatchWriteItem).
const maxDynamoRequest = 32 << 20

func serialize(h http.Handler) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body first so a slow client does not hold the lock.
		body, err := io.ReadAll(io.LimitReader(r.Body, maxDynamoRequest+1))
		if err != nil {
			http.Error(w, fmt.Sprintf("read request: %v", err), http.StatusBadRequest)
			return
		}
		if len(body) > maxDynamoRequest {
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		mu.Lock()
		defer mu.Unlock()
		h.ServeHTTP(w, r)
	})
}
