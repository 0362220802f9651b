package localaws

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"

	"github.com/truora/minidyn/server"
)

// DynamoServer is an in-process DynamoDB stand-in: minidyn's HTTP server on a
// loopback port, spoken to by the real SDK client. Other processes on this
// machine reach it too (the endpoint is plain HTTP on 127.0.0.1), which is
// what `sam local invoke --docker-network host` relies on (see README).
type DynamoServer struct {
	srv  *httptest.Server
	once sync.Once
}

// DynamoDBPortEnv names the environment variable holding the port StartDynamoDB
// listens on (on 127.0.0.1). `make run` sets it (8000), so that the endpoint
// in events/env.json is known; unset or 0 means a free port, as tests want.
const DynamoDBPortEnv = "BACKUPBRIDGE_LOCAL_DYNAMODB_PORT"

// StartDynamoDB starts minidyn on a loopback port: $BACKUPBRIDGE_LOCAL_DYNAMODB_PORT
// when set, else a free one.
//
// Every request is served under one mutex. minidyn v0.8.2 guards item
// operations with its own lock but reads and writes its table map in
// CreateTable, UpdateTable, DeleteTable and DescribeTable without it, so a
// DescribeTable racing a PutItem is a data race (and go test -race, which
// instruments minidyn in process, reports it). Serializing keeps the
// semantics DynamoDB gives a single item (one conditional write wins) and
// costs nothing at local volumes.
func StartDynamoDB() (*DynamoServer, error) {
	port, err := portFromEnv(DynamoDBPortEnv)
	if err != nil {
		return nil, fmt.Errorf("start dynamodb: %w", err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil && port != 0 {
		return nil, fmt.Errorf("start dynamodb: port %d ($%s) is taken: %w", port, DynamoDBPortEnv, err)
	}
	if err != nil {
		return nil, fmt.Errorf("start dynamodb: %w", err)
	}
	d := &DynamoServer{srv: httptest.NewUnstartedServer(serialize(server.NewServer()))}
	d.srv.Listener.Close()
	d.srv.Listener = l
	d.srv.Start()
	return d, nil
}

// portFromEnv returns the port in the environment variable name: 0 when it
// is unset or empty.
func portFromEnv(name string) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	port, err := strconv.Atoi(v)
	if err != nil || port < 0 || port > 65535 {
		return 0, fmt.Errorf("$%s = %q is not a port number", name, v)
	}
	return port, nil
}

// Endpoint is the base URL to give DynamoClient.
func (d *DynamoServer) Endpoint() string { return d.srv.URL }

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
