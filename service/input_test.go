package service

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
)

// Test 5: bad input gets the right error, and the service keeps serving.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.MaxPayload = 1024
	e.start(cfg)
	ids := e.openAccounts(2, "10.00")
	a, b := ids[0], ids[1]

	header := func(k, v string) nats.Header { return nats.Header{k: []string{v}} }
	tests := []struct {
		name   string
		op     string
		body   string
		header nats.Header
		status int
		code   string
		inMsg  string // the message must name this
	}{
		{"malformed JSON", "accounts.transfer", `{"from":1,`, nil, 400, "malformed_json", ""},
		{"not JSON at all", "accounts.transfer", "\x00\xff\xfe garbage", nil, 400, "bad_request", ""},
		{"array body", "accounts.transfer", `[1,2]`, nil, 400, "bad_request", ""},
		{"trailing data", "accounts.get", `{"id":1} {"id":2}`, nil, 400, "malformed_json", ""},
		{"string for integer", "accounts.transfer", `{"from":"1","to":2,"amount":"1.00"}`, nil, 400, "bad_param", "from"},
		{"float amount", "accounts.transfer", `{"from":1,"to":2,"amount":1.5}`, nil, 400, "bad_param", "amount"},
		{"negative id", "accounts.get", `{"id":-1}`, nil, 400, "bad_param", "id"},
		{"huge id", "accounts.get", `{"id":1e30}`, nil, 400, "bad_param", "id"},
		{"unknown field", "accounts.transfer", `{"from":1,"to":2,"amount":"1.00","memo":"x"}`, nil, 400, "unknown_param", "memo"},
		{"missing amount", "accounts.transfer", `{"from":1,"to":2}`, nil, 400, "missing_param", "amount"},
		{"empty body", "accounts.transfer", ``, nil, 400, "missing_param", "from"},
		{"missing owner", "accounts.open", `{"balance":"1.00"}`, nil, 400, "missing_param", "owner"},
		{"negative opening balance", "accounts.open", `{"owner":"x","balance":"-1.00"}`, nil, 400, "bad_param", "balance"},
		{"three decimals", "accounts.transfer", `{"from":1,"to":2,"amount":"1.005"}`, nil, 400, "bad_param", "amount"},
		{"exponent", "accounts.transfer", `{"from":1,"to":2,"amount":"1e3"}`, nil, 400, "bad_param", "amount"},
		{"zero amount", "accounts.transfer", `{"from":1,"to":2,"amount":"0.00"}`, nil, 400, "bad_param", "amount"},
		{"same account", "accounts.transfer", `{"from":1,"to":1,"amount":"1.00"}`, nil, 400, "same_account", ""},
		{"oversized payload", "accounts.open", `{"owner":"` + strings.Repeat("x", 2000) + `"}`, nil, 413, "payload_too_large", ""},
		{"bad timeout header", "accounts.get", `{"id":1}`, header("Dbapi-Timeout", "soon"), 400, "bad_timeout", ""},
		{"negative timeout header", "accounts.get", `{"id":1}`, header("Dbapi-Timeout", "-1s"), 400, "bad_timeout", ""},
		{"duplicate name", "accounts.transfer", `{"from":1,"from":2,"to":1,"amount":"0.01"}`, nil, 400, "duplicate_param", "from"},
		{"duplicate name, same value", "accounts.transfer", `{"from":1,"to":2,"to":2,"amount":"0.01"}`, nil, 400, "duplicate_param", "to"},
		{"names in upper case", "accounts.transfer", `{"FROM":2,"To":1,"AMOUNT":"0.01"}`, nil, 400, "unknown_param", "FROM"},
		{"one name in title case", "accounts.transfer", `{"from":1,"to":2,"Amount":"0.01"}`, nil, 400, "unknown_param", "Amount"},
		{"invalid UTF-8", "accounts.open", "{\"owner\":\"a\xff\xfeb\"}", nil, 400, "bad_text", "owner"},
		{"lone surrogate", "accounts.open", `{"owner":"\ud800"}`, nil, 400, "bad_text", "owner"},
		{"lone low surrogate", "accounts.open", `{"owner":"x\udfffy"}`, nil, 400, "bad_text", "owner"},
		{"byte order mark", "accounts.open", "\xef\xbb\xbf{\"owner\":\"bom\"}", nil, 400, "malformed_json", "byte order mark"},
		{"declared: duplicate name", "accounts.get", `{"id":1,"id":2}`, nil, 400, "duplicate_param", "id"},
		{"declared: wrong case", "accounts.get", `{"ID":1}`, nil, 400, "unknown_param", "ID"},
		{"batch: ops twice", "batch", `{"ops":[{"op":"accounts.open","params":{"owner":"b1"}}],"ops":[]}`, nil, 400, "duplicate_param", "ops"},
		{"batch: OPS", "batch", `{"OPS":[{"op":"accounts.open","params":{"owner":"b2"}}]}`, nil, 400, "unknown_param", "OPS"},
		{"batch: Params", "batch", `{"ops":[{"op":"accounts.open","Params":{"owner":"b3"}}]}`, nil, 400, "unknown_param", "Params"},
		{"batch: duplicate in step params", "batch", `{"ops":[{"op":"accounts.transfer","params":{"from":1,"from":2,"to":1,"amount":"0.01"}}]}`, nil, 400, "duplicate_param", "from"},
		{"batch: invalid UTF-8 in step params", "batch", "{\"ops\":[{\"op\":\"accounts.open\",\"params\":{\"owner\":\"\xff\"}}]}", nil, 400, "bad_text", "owner"},
		{"lower-case timeout header", "accounts.get", `{"id":1}`, header("dbapi-timeout", "abc"), 400, "bad_timeout", ""},
		{"empty timeout header", "accounts.get", `{"id":1}`, header("Dbapi-Timeout", ""), 400, "bad_timeout", ""},
		{"two timeouts", "accounts.get", `{"id":1}`, nats.Header{"Dbapi-Timeout": {"1s"}, "DBAPI-TIMEOUT": {"2s"}}, 400, "bad_timeout", ""},
		{"empty idempotency key", "accounts.transfer", `{"from":1,"to":2,"amount":"0.01"}`, header("Idempotency-Key", ""), 400, "bad_idempotency_key", ""},
		{"blank idempotency key", "accounts.transfer", `{"from":1,"to":2,"amount":"0.01"}`, header("idempotency-key", "   "), 400, "bad_idempotency_key", ""},
		{"two idempotency keys", "accounts.transfer", `{"from":1,"to":2,"amount":"0.01"}`, nats.Header{"Idempotency-Key": {"k1"}, "idempotency-key": {"k2"}}, 400, "bad_idempotency_key", ""},
		{"unknown account", "accounts.get", `{"id":999999}`, nil, 404, "not_found", "999999"},
		{"transfer to unknown account", "accounts.transfer", `{"from":1,"to":999999,"amount":"1.00"}`, nil, 404, "not_found", "999999"},
		{"insufficient funds", "accounts.transfer", `{"from":1,"to":2,"amount":"10.01"}`, nil, 409, "insufficient_funds", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.NewReplacer(`"from":1`, `"from":`+itoa(a), `"to":2`, `"to":`+itoa(b), `"to":1`, `"to":`+itoa(a), `"id":1`, `"id":`+itoa(a)).Replace(tt.body)
			r := call(e.nc, e.prefix+"."+tt.op, []byte(body), tt.header, 10*time.Second)
			if r.err != nil || r.status != tt.status || r.code != tt.code {
				t.Fatalf("got %v; want %d %s", r, tt.status, tt.code)
			}
			if !strings.Contains(r.msg, tt.inMsg) {
				t.Errorf("message %q does not name %q", r.msg, tt.inMsg)
			}
			if r.retry {
				t.Errorf("a %d is marked retryable", r.status)
			}
		})
	}

	t.Run("unknown operation gets no responders at once", func(t *testing.T) {
		start := time.Now()
		r := call(e.nc, e.prefix+".accounts.nosuch", []byte(`{}`), nil, 30*time.Second)
		if !errors.Is(r.err, nats.ErrNoResponders) {
			t.Fatalf("got %v; want %v", r, nats.ErrNoResponders)
		}
		if time.Since(start) > 25*time.Second {
			t.Errorf("the answer waited for the request timeout")
		}
	})

	t.Run("still serving and nothing changed", func(t *testing.T) {
		r := e.call("accounts.transfer", map[string]any{"from": a, "to": b, "amount": "2.50"})
		if r.err != nil || r.status != 0 {
			t.Fatalf("valid transfer after bad input: %v", r)
		}
		var res map[string]any
		json.Unmarshal(r.body, &res)
		if res["from_balance"] != "7.50" || res["to_balance"] != "12.50" {
			t.Errorf("balances after the only valid transfer: %v", res)
		}
		var n int
		if err := e.sqlx().Get(&n, "SELECT COUNT(*) FROM accounts"); err != nil || n != 2 {
			t.Errorf("%d accounts (%v); bad requests must open none", n, err)
		}
	})
}

func itoa(n uint64) string { b, _ := json.Marshal(n); return string(b) }

// A full queue (by count or by bytes) answers 503 overloaded (retryable)
// at once instead of letting requests pile up.
func TestOverloadAnswers503(t *testing.T) {
	tests := []struct {
		name       string
		queueLen   int
		queueBytes int64
		body       string
	}{
		{"queue length", 1, 0, ""},
		{"queue bytes", 1000, 100, `{"pad":"` + strings.Repeat("x", 60) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			cfg := e.config()
			cfg.Workers, cfg.QueueLen, cfg.QueueBytes = 1, tt.queueLen, tt.queueBytes
			e.start(cfg, func(m *Main) {
				m.App.Operations = append(m.App.Operations, dbapi.Operation{Name: "test.sleep", Run: func(ctx context.Context, tx *sqlx.Tx, _ json.RawMessage) (any, error) {
					_, err := tx.ExecContext(ctx, "DO SLEEP(0.3)")
					return "slept", err
				}})
			})
			const n = 20
			replies := make([]reply, n)
			var wg sync.WaitGroup
			for i := range replies {
				wg.Add(1)
				go func() {
					defer wg.Done()
					replies[i] = call(e.nc, e.prefix+".test.sleep", []byte(tt.body), nil, 30*time.Second)
				}()
			}
			wg.Wait()
			var ok, overloaded int
			for _, r := range replies {
				switch {
				case r.err == nil && r.status == 0:
					ok++
				case r.status == 503 && r.code == "overloaded" && r.retry:
					overloaded++
				default:
					t.Errorf("unexpected reply: %v", r)
				}
			}
			if ok == 0 || overloaded == 0 {
				t.Errorf("%d ok, %d overloaded; want some of each", ok, overloaded)
			}
		})
	}
}

// A request whose deadline passes inside the transaction gets 504 and
// nothing it did is committed.
func TestDeadlineRollsBack(t *testing.T) {
	e := newEnv(t)
	e.start(e.config(), func(m *Main) {
		m.App.Operations = append(m.App.Operations, dbapi.Operation{Name: "test.slowopen", Run: func(ctx context.Context, tx *sqlx.Tx, _ json.RawMessage) (any, error) {
			if _, err := tx.ExecContext(ctx, "INSERT INTO accounts (owner, balance) VALUES ('slow', 1)"); err != nil {
				return nil, err
			}
			_, err := tx.ExecContext(ctx, "DO SLEEP(2)")
			return "done", err
		}})
	})
	r := call(e.nc, e.prefix+".test.slowopen", nil, nats.Header{"Dbapi-Timeout": []string{"200ms"}}, 10*time.Second)
	if r.status != 504 || r.code != "timeout" || !r.retry {
		t.Fatalf("got %v; want 504 timeout", r)
	}
	var n int
	if err := e.sqlx().Get(&n, "SELECT COUNT(*) FROM accounts WHERE owner = 'slow'"); err != nil || n != 0 {
		t.Errorf("rows committed by a timed-out request: %d (err %v)", n, err)
	}
}
