package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/examples/bank/bank"
	"github.com/nats-io/nats.go"
)

func (e *env) batch(body string) reply {
	return call(e.nc, e.prefix+".batch", []byte(body), nil, 30*time.Second)
}

func TestBatch(t *testing.T) {
	e := newEnv(t)
	e.start(e.config())
	db := e.sqlx()
	countAccounts := func() int {
		var n int
		if err := db.Get(&n, "SELECT COUNT(*) FROM accounts"); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("steps use earlier results and commit together", func(t *testing.T) {
		r := e.batch(`{"ops":[
			{"op":"accounts.open","params":{"owner":"ann","balance":"100.00"},"as":"a"},
			{"op":"accounts.open","params":{"owner":"$$bob"},"as":"b"},
			{"op":"accounts.transfer","params":{"from":"$a.id","to":"$b.id","amount":"10.00"}},
			{"op":"accounts.get","params":{"id":"$b.id"}}]}`)
		if r.err != nil || r.status != 0 {
			t.Fatalf("batch: %v", r)
		}
		var res struct{ Results []map[string]any }
		if err := json.Unmarshal(r.body, &res); err != nil || len(res.Results) != 4 {
			t.Fatalf("reply %s: %v", r.body, err)
		}
		if got := res.Results[1]["owner"]; got != "$bob" {
			t.Errorf("escaped owner = %v, want $bob", got)
		}
		if got := res.Results[2]["from_balance"]; got != "90.00" {
			t.Errorf("from_balance = %v, want 90.00", got)
		}
		if got := res.Results[3]["balance"]; got != "10.00" {
			t.Errorf("b's balance read in the same transaction = %v, want 10.00", got)
		}
	})

	before := countAccounts()
	tests := []struct {
		name, body  string
		status      int
		code        string
		step        int // -1: no step in the reply
		msgContains string
	}{
		{"a failing step rolls back every step", `{"ops":[
			{"op":"accounts.open","params":{"owner":"carl","balance":"5.00"},"as":"c"},
			{"op":"accounts.transfer","params":{"from":"$c.id","to":999999,"amount":"1.00"}}]}`, 404, "not_found", 1, "step 1 (accounts.transfer)"},
		{"business error in a later step", `{"ops":[
			{"op":"accounts.open","params":{"owner":"dora","balance":"5.00"},"as":"d"},
			{"op":"accounts.open","params":{"owner":"ed"},"as":"e"},
			{"op":"accounts.transfer","params":{"from":"$d.id","to":"$e.id","amount":"6.00"}}]}`, 409, "insufficient_funds", 2, "step 2"},
		{"reference to an unknown step", `{"ops":[{"op":"accounts.get","params":{"id":"$x.id"}}]}`, 400, "unresolvable_reference", -1, "$x.id"},
		{"reference to a later step", `{"ops":[
			{"op":"accounts.open","params":{"owner":"$b.owner"}},
			{"op":"accounts.open","params":{"owner":"b"},"as":"b"}]}`, 400, "unresolvable_reference", -1, "$b.owner"},
		{"reference to a missing field", `{"ops":[
			{"op":"accounts.open","params":{"owner":"f"},"as":"f"},
			{"op":"accounts.get","params":{"id":"$f.nosuch"}}]}`, 400, "unresolvable_reference", 1, "nosuch"},
		{"unknown operation", `{"ops":[{"op":"accounts.open","params":{"owner":"g"}},{"op":"nope"}]}`, 404, "unknown_operation", -1, "step 1"},
		{"duplicate alias", `{"ops":[{"op":"accounts.open","params":{"owner":"h"},"as":"h"},{"op":"accounts.open","params":{"owner":"h"},"as":"h"}]}`, 400, "bad_alias", -1, "h"},
		{"no steps", `{"ops":[]}`, 400, "missing_param", -1, "ops"},
		{"not a batch", `{"steps":[]}`, 400, "unknown_param", -1, "steps"},
		{"too many steps", `{"ops":[` + strings.TrimSuffix(strings.Repeat(`{"op":"accounts.get","params":{"id":1}},`, 101), ",") + `]}`, 413, "batch_too_large", -1, "101"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.batch(tt.body)
			if r.err != nil || r.status != tt.status || r.code != tt.code {
				t.Fatalf("got %v; want %d %s", r, tt.status, tt.code)
			}
			if !strings.Contains(r.msg, tt.msgContains) {
				t.Errorf("message %q does not contain %q", r.msg, tt.msgContains)
			}
			var eb struct {
				Error struct {
					Step *int
					Op   string
				}
			}
			json.Unmarshal(r.body, &eb)
			switch {
			case tt.step < 0 && eb.Error.Step != nil:
				t.Errorf("reply names step %d; want none", *eb.Error.Step)
			case tt.step >= 0 && (eb.Error.Step == nil || *eb.Error.Step != tt.step || eb.Error.Op == ""):
				t.Errorf("reply body %s; want step %d", r.body, tt.step)
			}
		})
	}
	if got := countAccounts(); got != before {
		t.Errorf("failed batches left %d accounts behind", got-before)
	}
}

func keyed(key string) nats.Header { return nats.Header{"Idempotency-Key": []string{key}} }

// 32 clients each send the same 500 keyed transfers 3 times, in their own
// random orders, so repeats race each other and the first runs: exactly
// 500 transfers are applied, and every reply for a key is the same.
func TestIdempotentTransfers(t *testing.T) {
	const clients, keys, rounds, hot = 32, 500, 3, 10
	e := newEnv(t)
	e.start(e.config())
	accounts := e.openAccounts(hot, "100000.00")
	bodies := make([][]byte, keys)
	for i := range bodies {
		bodies[i], _ = json.Marshal(randomTransfer(accounts))
	}
	prefix := fmt.Sprintf("k-%d-", rand.Int64())

	var mu sync.Mutex
	first := make([][]byte, keys)
	var replayed, total int
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				for _, k := range rand.Perm(keys) {
					msg := &nats.Msg{Subject: e.prefix + ".accounts.transfer", Data: bodies[k], Header: keyed(prefix + fmt.Sprint(k))}
					resp, err := e.nc.RequestMsg(msg, time.Minute)
					mu.Lock()
					total++
					switch {
					case err != nil:
						t.Errorf("key %d: %v", k, err)
					case resp.Header.Get("Nats-Service-Error-Code") != "":
						t.Errorf("key %d: error reply %s", k, resp.Data)
					case first[k] == nil:
						first[k] = resp.Data
					case !bytes.Equal(first[k], resp.Data):
						t.Errorf("key %d: replies differ: %s and %s", k, first[k], resp.Data)
					}
					if err == nil && resp.Header.Get("Dbapi-Replayed") == "true" {
						replayed++
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	var n int
	if err := e.sqlx().Get(&n, "SELECT COUNT(*) FROM transfers"); err != nil {
		t.Fatal(err)
	}
	if n != keys {
		t.Errorf("%d transfers applied; want exactly %d", n, keys)
	}
	if want := clients*keys*rounds - keys; replayed != want {
		t.Errorf("%d replies were replayed; want %d", replayed, want)
	}
	t.Logf("%d requests, %d replayed", total, replayed)
	ids := map[int64]bool{}
	for _, b := range first {
		var r bank.TransferResult
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("reply %s: %v", b, err)
		}
		ids[r.TransferID] = true
	}
	checkLedger(t, e.sqlx(), "100000.00", hot, ids)
}

func TestIdempotencyKeyRules(t *testing.T) {
	e := newEnv(t)
	e.start(e.config())
	ids := e.openAccounts(2, "5.00")
	transfer := func(amount, key string) reply {
		body := fmt.Sprintf(`{"from":%d,"to":%d,"amount":%q}`, ids[0], ids[1], amount)
		return call(e.nc, e.prefix+".accounts.transfer", []byte(body), keyed(key), 10*time.Second)
	}
	key := fmt.Sprintf("rules-%d", rand.Int64())

	// A failed request stores nothing, so the same key runs again.
	if r := transfer("6.00", key); r.status != 409 || r.code != "insufficient_funds" {
		t.Fatalf("first try: %v", r)
	}
	if r := e.call("accounts.transfer", map[string]any{"from": ids[1], "to": ids[0], "amount": "1.00"}); r.status != 0 {
		t.Fatalf("top-up: %v", r)
	}
	if r := transfer("6.00", key); r.status != 0 {
		t.Fatalf("retry with the same key after a failure: %v", r)
	}
	// The same key with another request is refused.
	if r := transfer("0.01", key); r.status != 409 || r.code != "idempotency_key_reused" {
		t.Errorf("reused key: %v", r)
	}
	for _, bad := range []string{strings.Repeat("k", 129), "caf\u00e9", "tab\there"} {
		if r := transfer("0.01", bad); r.status != 400 || r.code != "bad_idempotency_key" {
			t.Errorf("key %q: %v", bad, r)
		}
	}
	// A keyed batch replays as a whole.
	body := []byte(`{"ops":[{"op":"accounts.open","params":{"owner":"zed"},"as":"z"},{"op":"accounts.get","params":{"id":"$z.id"}}]}`)
	r1 := call(e.nc, e.prefix+".batch", body, keyed(key+"-batch"), 10*time.Second)
	r2 := call(e.nc, e.prefix+".batch", body, keyed(key+"-batch"), 10*time.Second)
	if r1.status != 0 || r2.status != 0 || !bytes.Equal(r1.body, r2.body) {
		t.Errorf("keyed batch: %v then %v", r1, r2)
	}
	var n int
	e.sqlx().Get(&n, "SELECT COUNT(*) FROM accounts WHERE owner = 'zed'")
	if n != 1 {
		t.Errorf("keyed batch sent twice opened %d accounts", n)
	}
}

// The service answers the micro package's PING, INFO and STATS requests,
// and its STATS carry the transaction counts per endpoint.
func TestMicroStats(t *testing.T) {
	e := newEnv(t)
	m := e.start(e.config())
	ids := e.openAccounts(2, "1.00")
	e.call("accounts.transfer", map[string]any{"from": ids[0], "to": ids[1], "amount": "1.00"})
	e.call("accounts.transfer", map[string]any{"from": ids[0], "to": ids[1], "amount": "1.00"}) // insufficient_funds

	id := m.Consumer.Info().ID
	for _, verb := range []string{"PING", "INFO"} {
		if r := call(e.nc, "$SRV."+verb+".dbapi."+id, nil, nil, 5*time.Second); r.err != nil || r.status != 0 {
			t.Errorf("$SRV.%s: %v", verb, r)
		}
	}
	r := call(e.nc, "$SRV.STATS.dbapi."+id, nil, nil, 5*time.Second)
	if r.err != nil {
		t.Fatal(r.err)
	}
	var stats struct {
		Endpoints []struct {
			Subject     string `json:"subject"`
			NumRequests int    `json:"num_requests"`
			Data        struct {
				Committed int            `json:"committed"`
				Errors    map[string]int `json:"errors"`
			} `json:"data"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal(r.body, &stats); err != nil {
		t.Fatalf("STATS reply %s: %v", r.body, err)
	}
	found := false
	for _, ep := range stats.Endpoints {
		if ep.Subject == e.prefix+".accounts.transfer" {
			found = true
			if ep.NumRequests != 2 || ep.Data.Committed != 1 || ep.Data.Errors["insufficient_funds"] != 1 {
				t.Errorf("transfer endpoint stats: %+v", ep)
			}
		}
	}
	if !found {
		t.Errorf("no transfer endpoint in %s", r.body)
	}
}
