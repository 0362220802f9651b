package costmeter

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Report prints the rows: the summary per event type, then the requests,
// the write units and the read units per event, each by where they went.
func Report(w io.Writer, rows []Row, p Prices) {
	p.Write(w)
	fmt.Fprintln(w)
	Summary(w, rows, p)
	fmt.Fprintln(w)
	Requests(w, rows)
	fmt.Fprintln(w)
	Writes(w, rows)
	fmt.Fprintln(w)
	Reads(w, rows)
}

func table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// Summary prints one line per event type: per event, the API Gateway
// requests, Lambda invocations and GB-seconds, SQS requests, DynamoDB calls
// and units, Secrets Manager and SNS calls; then the dollars per million
// events by service.
func Summary(w io.Writer, rows []Row, p Prices) {
	fmt.Fprintln(w, "Per event (averages over N events), and $ per million events:")
	tw := table(w)
	fmt.Fprintln(tw, "event type\tN\tAPIGW\tλ inv\tλ GB-s\tSQS\tDDB calls\tWCU\tRCU\tSecrets\tSNS\tCW calls\t$ DDB\t$ SQS\t$ λ\t$ APIGW\t$ other\t$ total\t")
	for _, r := range rows {
		d := p.PerMillion(r)
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.5f\t%.2f\t%.2f\t%.2f\t%.2f\t%.3f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n",
			r.Name, r.Events, r.ServiceRequests(APIGateway), r.Invocations(), r.GBSeconds(), r.ServiceRequests(SQS),
			r.per(float64(calls(r.Snap, DynamoDB))), r.WCU(), r.RCU(), r.ServiceRequests(SecretsManager), r.ServiceRequests(SNS),
			r.per(float64(r.ConnectWiseCalls)),
			d.DynamoDB, d.SQS, d.Lambda, d.APIGateway, d.Secrets+d.SNS, d.Total())
	}
	tw.Flush()
	fmt.Fprintln(w, "  APIGW, λ inv, SQS, Secrets, SNS: billed requests per event (SQS without the event source's empty receives: idle polling is")
	fmt.Fprintln(w, "  a fixed cost, not a per-event one); λ GB-s: measured handler time on this machine × memory; CW calls: ConnectWise")
	fmt.Fprintln(w, "  calls per event (not priced); $ DDB = WCU × write price + RCU × read price; $ other = Secrets Manager + SNS.")
}

func calls(s Snapshot, service string) int {
	n := 0
	for op, c := range s.Calls {
		if op.Service == service {
			n += c
		}
	}
	return n
}

// matrix prints a table of values per event: one line per key, one column
// per row (event type).
func matrix[K comparable](w io.Writer, rows []Row, title string, keys []K, name func(K) string, value func(Row, K) float64, format string) {
	fmt.Fprintln(w, title)
	tw := table(w)
	head := []string{""}
	for _, r := range rows {
		head = append(head, r.Name)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	totals := make([]float64, len(rows))
	for _, k := range keys {
		line := []string{name(k)}
		for i, r := range rows {
			v := value(r, k)
			totals[i] += v
			if v == 0 {
				line = append(line, "·")
				continue
			}
			line = append(line, fmt.Sprintf(format, v))
		}
		fmt.Fprintln(tw, strings.Join(line, "\t")+"\t")
	}
	line := []string{"total"}
	for _, t := range totals {
		line = append(line, fmt.Sprintf(format, t))
	}
	fmt.Fprintln(tw, strings.Join(line, "\t")+"\t")
	tw.Flush()
}

// Requests prints the billed requests per event by service and operation.
func Requests(w io.Writer, rows []Row) {
	seen := map[Op]bool{}
	for _, r := range rows {
		for op := range r.Snap.Billed {
			seen[op] = true
		}
	}
	ops := slices.SortedFunc(func(yield func(Op) bool) {
		for op := range seen {
			if !yield(op) {
				return
			}
		}
	}, func(a, b Op) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Operation, b.Operation))
	})
	matrix(w, rows, "Billed requests per event, by service and operation (SQS ReceiveMessage includes empty receives, shown apart):", ops,
		Op.String, func(r Row, op Op) float64 {
			v := r.Snap.Billed[op]
			if op == (Op{SQS, "ReceiveMessage"}) {
				v -= float64(r.Snap.EmptyReceives)
			}
			return r.per(v)
		}, "%.2f")
	fmt.Fprint(w, "  empty receives (idle polling, not in the totals):")
	for _, r := range rows {
		fmt.Fprintf(w, " %s %d;", r.Name, r.Snap.EmptyReceives)
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		for op, a := range r.Snap.Attempts {
			if c := r.Snap.Calls[op]; a > c {
				fmt.Fprintf(w, "  %s: the SDK retried %s %d times (%d calls; each attempt is billed)\n", r.Name, op, a-c, c)
			}
		}
		for op, n := range r.Snap.Unmodelled {
			fmt.Fprintf(w, "  %s: %d calls of %s whose capacity is not modelled\n", r.Name, n, op)
		}
	}
}

type unitKey struct{ Item, Where, Operation string }

func unitKeys[K comparable](rows []Row, get func(Row) map[K]float64, key func(K) unitKey) []unitKey {
	seen := map[unitKey]bool{}
	for _, r := range rows {
		for k := range get(r) {
			seen[key(k)] = true
		}
	}
	keys := make([]unitKey, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b unitKey) int {
		return cmp.Or(cmp.Compare(a.Item, b.Item), cmp.Compare(a.Where, b.Where), cmp.Compare(a.Operation, b.Operation))
	})
	return keys
}

// Writes prints the write units per event by kind of item (key prefix),
// table or index, and operation.
func Writes(w io.Writer, rows []Row) {
	get := func(r Row) map[unitKey]float64 {
		out := map[unitKey]float64{}
		for k, s := range r.Snap.Writes {
			out[writeUnitKey(k)] += s.WCU
		}
		return out
	}
	keys := unitKeys(rows, get, func(k unitKey) unitKey { return k })
	matrix(w, rows, "DynamoDB write units per event, by item (pk prefix, sk prefix), table or index, and operation:", keys,
		func(k unitKey) string { return k.Item + " | " + k.Where + " | " + k.Operation },
		func(r Row, k unitKey) float64 { return r.per(get(r)[k]) }, "%.2f")
	for _, r := range rows {
		failed := 0
		for _, s := range r.Snap.Writes {
			failed += s.ConditionFailed
		}
		if failed > 0 {
			fmt.Fprintf(w, "  %s: %.2f writes per event failed their condition (each still consumed its units)\n", r.Name, r.per(float64(failed)))
		}
	}
}

func writeUnitKey(k WriteKey) unitKey {
	where := "table"
	if k.Index != "" {
		where = "GSI " + k.Index
	}
	return unitKey{k.Item, where, k.Operation}
}

// Reads prints the read units per event by kind of item, table or index,
// and operation.
func Reads(w io.Writer, rows []Row) {
	get := func(r Row) map[unitKey]float64 {
		out := map[unitKey]float64{}
		for k, s := range r.Snap.Reads {
			where := "table"
			if k.Index != "" {
				where = "GSI " + k.Index
			}
			out[unitKey{k.Item, where, k.Operation}] += s.RCU
		}
		return out
	}
	keys := unitKeys(rows, get, func(k unitKey) unitKey { return k })
	matrix(w, rows, "DynamoDB read units per event, by item (pk prefix, sk prefix), table or index, and operation:", keys,
		func(k unitKey) string { return k.Item + " | " + k.Where + " | " + k.Operation },
		func(r Row, k unitKey) float64 { return r.per(get(r)[k]) }, "%.2f")
}
