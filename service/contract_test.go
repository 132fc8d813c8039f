package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/nats-io/nats.go"
)

// Known headers are matched in any case: "idempotency-key: K" sent three
// times makes one debit, and the repeats are replays.
func TestIdempotencyKeyAnyCase(t *testing.T) {
	e := newEnv(t)
	e.start(e.config())
	ids := e.openAccounts(2, "10.00")
	body := []byte(fmt.Sprintf(`{"from":%d,"to":%d,"amount":"1.00"}`, ids[0], ids[1]))
	for _, name := range []string{"idempotency-key", "IDEMPOTENCY-KEY", "Idempotency-Key", "iDEMPOTENCY-kEY"} {
		t.Run(name, func(t *testing.T) {
			key := fmt.Sprintf("case-%s-%d", name, rand.Int64())
			var first []byte
			for i := range 3 {
				msg := &nats.Msg{Subject: e.prefix + ".accounts.transfer", Data: body, Header: nats.Header{name: {key}}}
				resp, err := e.nc.RequestMsg(msg, 10*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if s := resp.Header.Get(protocol.HeaderErrorCode); s != "" {
					t.Fatalf("try %d: error %s %s", i, s, resp.Data)
				}
				replayed := resp.Header.Get(protocol.HeaderReplayed) == "true"
				if replayed != (i > 0) {
					t.Errorf("try %d: replayed=%v", i, replayed)
				}
				if first == nil {
					first = resp.Data
				} else if !bytes.Equal(first, resp.Data) {
					t.Errorf("try %d: reply %s differs from %s", i, resp.Data, first)
				}
			}
		})
	}
	var n int
	if err := e.sqlx().Get(&n, "SELECT COUNT(*) FROM transfers"); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("%d transfers; want 4 (one per key, whatever its header's case)", n)
	}
}

// A key is scoped to its operation: the same key on two operations is two
// keys, each replayed on its own operation.
func TestIdempotencyKeyPerOperation(t *testing.T) {
	e := newEnv(t)
	e.start(e.config())
	key := fmt.Sprintf("scoped-%d", rand.Int64())
	open := call(e.nc, e.prefix+".accounts.open", []byte(`{"owner":"scoped","balance":"5.00"}`), keyed(key), 10*time.Second)
	if open.status != 0 {
		t.Fatalf("open: %v", open)
	}
	var acct struct{ ID uint64 }
	if err := json.Unmarshal(open.body, &acct); err != nil {
		t.Fatal(err)
	}
	other := e.openAccounts(1, "0.00")[0]
	transferBody := []byte(fmt.Sprintf(`{"from":%d,"to":%d,"amount":"1.00"}`, acct.ID, other))
	tr := call(e.nc, e.prefix+".accounts.transfer", transferBody, keyed(key), 10*time.Second)
	if tr.status != 0 {
		t.Fatalf("transfer with the key of an open: %v; want it to run", tr)
	}
	again := call(e.nc, e.prefix+".accounts.open", []byte(`{"owner":"scoped","balance":"5.00"}`), keyed(key), 10*time.Second)
	if again.status != 0 || !bytes.Equal(again.body, open.body) {
		t.Errorf("open repeated: %v; want the first open's reply %s", again, open.body)
	}
	// The other operation's body under the first operation's key is a
	// different request there.
	if r := call(e.nc, e.prefix+".accounts.open", []byte(`{"owner":"other"}`), keyed(key), 10*time.Second); r.status != 409 || r.code != "idempotency_key_reused" {
		t.Errorf("another body on the same operation and key: %v", r)
	}
	var n int
	e.sqlx().Get(&n, "SELECT COUNT(*) FROM accounts WHERE owner = 'scoped'")
	if n != 1 {
		t.Errorf("%d accounts opened; want 1", n)
	}
	e.sqlx().Get(&n, "SELECT COUNT(*) FROM transfers")
	if n != 1 {
		t.Errorf("%d transfers; want 1", n)
	}
}

// A lock wait that outlasts the service's retries reaches the client as a
// 409 lock_wait_timeout marked retryable: nothing was committed and a later
// try may pass.
func TestLockWaitTimeoutIsRetryable(t *testing.T) {
	e := newEnv(t)
	if e.db.Params == nil {
		e.db.Params = map[string]string{}
	}
	e.db.Params["innodb_lock_wait_timeout"] = "1"
	cfg := e.config()
	cfg.MaxAttempts = 1
	e.start(cfg)
	ids := e.openAccounts(2, "10.00")

	holder, err := e.sqlx().Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.Exec("SELECT id FROM accounts WHERE id = ? FOR UPDATE", ids[0]); err != nil {
		t.Fatal(err)
	}
	body := []byte(fmt.Sprintf(`{"from":%d,"to":%d,"amount":"1.00"}`, ids[0], ids[1]))
	r := call(e.nc, e.prefix+".accounts.transfer", body, nil, 30*time.Second)
	if r.status != 409 || r.code != "lock_wait_timeout" || !r.retry {
		t.Fatalf("got %v (retryable %v); want 409 lock_wait_timeout, retryable", r, r.retry)
	}
	holder.Rollback()
	if r := call(e.nc, e.prefix+".accounts.transfer", body, nil, 30*time.Second); r.status != 0 {
		t.Fatalf("the same request once the lock is gone: %v", r)
	}
}
