package resync_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/table"
	"github.com/efs-cw/backupbridge/internal/usage"
)

// TestResyncLoad is the load run of issue 10: the resync of 100,000
// customers over 100 partners, with AWS-like latencies injected (a DynamoDB
// call 5 ms, a SendMessageBatch 10 ms: dynamoLatency, sqsLatency), must take
// at most RESYNC_MAX_SECONDS (default 60; timed without heap samples) and
// keep the heap flat (sampled in a second run, with the same bound as
// TestResyncEnumeratesEveryCustomer, against a small run of 200 customers
// for each partner). It is not part of `make test`:
//
//	RESYNC_LOAD=1 go test -run TestResyncLoad -count=1 -v ./internal/resync/
//
// RESYNC_LOAD_CUSTOMERS and RESYNC_LOAD_PARTNERS change the sizes.
//
// The customers come from customerFront, not from minidyn: minidyn sorts
// the whole index and evaluates the key condition on every item for each
// query, so with 100,000 customers stored each page costs it far more than
// DynamoDB's few milliseconds and the run measures the emulator. (The same
// run on stored customers: TestResyncEnumeratesEveryCustomer with
// RESYNC_CUSTOMERS=100000 RESYNC_PARTNERS=100.)
func TestResyncLoad(t *testing.T) {
	if os.Getenv("RESYNC_LOAD") == "" {
		t.Skip("the resync load run (100,000 customers): set RESYNC_LOAD=1")
	}
	customers, partners := envInt("RESYNC_LOAD_CUSTOMERS", 100_000), envInt("RESYNC_LOAD_PARTNERS", 100)
	var small, large, timed run
	t.Run("small", func(t *testing.T) { small = resyncOf(t, smallPerPartner*partners, partners, setup{generated: true}) })
	t.Run("large", func(t *testing.T) { large = resyncOf(t, customers, partners, setup{generated: true}) })
	t.Run("timed", func(t *testing.T) { timed = resyncOf(t, customers, partners, setup{generated: true, unprobed: true}) })
	if t.Failed() {
		return
	}
	checkFlat(t, small, large)
	limit := time.Duration(envInt("RESYNC_MAX_SECONDS", 60)) * time.Second
	t.Logf("resync of %d customers over %d partners: %s (limit %s; %s with the heap samples), %d SendMessageBatch calls of up to ten",
		timed.rep.Customers, timed.rep.Partners, timed.wall.Round(time.Millisecond), limit, large.wall.Round(time.Millisecond), (timed.rep.Enqueued+9)/10)
	if timed.wall > limit {
		t.Errorf("the resync of %d customers took %s, more than %s", timed.rep.Customers, timed.wall.Round(time.Millisecond), limit)
	}
}

// customerFront starts a loopback DynamoDB front for the resync: it answers
// the queries of the byCustomer index (syncslot.Slots.Customers) itself,
// from a generated population, and passes every other request to backend
// (minidyn: the partners, the event log).
//
// The population is resyncOf's: customers c000000… where customer i belongs
// to partner p<i % partners>, every tenth synced at syncedAt (its item then
// carries the slot attributes a completed sync leaves), in the index's
// order, in pages of the query's Limit; like DynamoDB, a full page carries a
// LastEvaluatedKey even when nothing follows.
func customerFront(t *testing.T, backend string, customers, partners int, syncedAt time.Time) string {
	t.Helper()
	u, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	synced := strconv.FormatInt(syncedAt.UnixMilli(), 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var q struct {
			IndexName                 string
			ExpressionAttributeValues map[string]struct{ S string }
			ExclusiveStartKey         map[string]struct{ S string }
			Limit                     int
		}
		if r.Header.Get("X-Amz-Target") != "DynamoDB_20120810.Query" || json.Unmarshal(body, &q) != nil || q.IndexName != table.IndexByCustomer {
			proxy.ServeHTTP(w, r)
			return
		}
		pid := strings.TrimPrefix(q.ExpressionAttributeValues[":pk"].S, usage.CustomersIndexPK(""))
		p, err := strconv.Atoi(strings.TrimPrefix(pid, "p"))
		if err != nil || p >= partners || q.Limit <= 0 {
			http.Error(w, "unexpected query "+string(body), http.StatusBadRequest)
			return
		}
		n := 0 // the partner's customers
		if p < customers {
			n = (customers - p + partners - 1) / partners
		}
		from := 0
		if k := q.ExclusiveStartKey[table.GSI1SK].S; k != "" {
			i, err := strconv.Atoi(strings.TrimPrefix(k, usage.IndexSortKey(false, "c")))
			if err != nil {
				http.Error(w, "unexpected start key "+k, http.StatusBadRequest)
				return
			}
			from = (i-p)/partners + 1
		}
		to := min(from+q.Limit, n)
		var b bytes.Buffer
		fmt.Fprintf(&b, `{"Count":%d,"ScannedCount":%d,"Items":[`, max(to-from, 0), max(to-from, 0))
		key := func(i int) string {
			cid := fmt.Sprintf("c%06d", p+i*partners)
			return fmt.Sprintf(`"pk":{"S":%q},"sk":{"S":%q},"gsi1pk":{"S":%q},"gsi1sk":{"S":%q}`,
				usage.CustomerPK(pid, cid), usage.CustomerSK, usage.CustomersIndexPK(pid), usage.IndexSortKey(false, cid))
		}
		for j := from; j < to; j++ {
			if j > from {
				b.WriteByte(',')
			}
			i := p + j*partners
			fmt.Fprintf(&b, `{%s,"partnerId":{"S":%q},"customerId":{"S":"c%06d"},"version":{"N":"0"}`, key(j), pid, i)
			if i%10 == 0 {
				fmt.Fprintf(&b, `,"lastSyncAt":{"N":%q},"leaseOwner":{"S":""},"leaseUntil":{"N":"0"},"pending":{"BOOL":false}`, synced)
			}
			b.WriteByte('}')
		}
		b.WriteByte(']')
		if to-from == q.Limit {
			fmt.Fprintf(&b, `,"LastEvaluatedKey":{%s}`, key(to-1))
		}
		b.WriteByte('}')
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write(b.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
