package idempotency_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/idempotency"
	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/dbapi-dev/dbapi/schema"
	"github.com/jmoiron/sqlx"
)

func TestValidKey(t *testing.T) {
	for _, k := range []string{"a", "order-42", "~!@#$%^&*()_+ x", string(make([]byte, 0)) + "k"} {
		if err := idempotency.ValidKey(k); err != nil {
			t.Errorf("ValidKey(%q) = %v", k, err)
		}
	}
	long := make([]byte, 129)
	for i := range long {
		long[i] = 'k'
	}
	for _, k := range []string{"", string(long), "tab\t", "nul\x00", "\u00e9", "del\x7f"} {
		if err := idempotency.ValidKey(k); !errors.Is(err, dbapi.ErrInvalid) {
			t.Errorf("ValidKey(%q) = %v; want invalid", k, err)
		}
	}
}

// run runs f in a transaction that commits when f returns nil.
func run(t *testing.T, db *sqlx.DB, f func(tx *sqlx.Tx) error) error {
	t.Helper()
	tx, err := db.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func TestClaimSaveReplayExpire(t *testing.T) {
	db, _ := dbtest.New(t, schema.OwnSet())
	ctx := context.Background()
	// A long TTL, and expiry by moving expires_at back: a short TTL and a
	// sleep made the test depend on how busy the machine is.
	s := &idempotency.Store{TTL: time.Hour}
	hash := idempotency.Hash("op", []byte(`{"a":1}`))

	claim := func(op string, h []byte) (reply []byte, replay bool, err error) {
		err = run(t, db, func(tx *sqlx.Tx) error {
			var err error
			reply, replay, err = s.Claim(ctx, tx, "k1", op, h)
			if err == nil && !replay {
				err = s.Save(ctx, tx, "k1", op, []byte(`"done `+op+`"`))
			}
			return err
		})
		return
	}

	if _, replay, err := claim("op", hash); err != nil || replay {
		t.Fatalf("first claim: replay=%v err=%v", replay, err)
	}
	reply, replay, err := claim("op", hash)
	if err != nil || !replay || string(reply) != `"done op"` {
		t.Fatalf("repeat: reply=%s replay=%v err=%v", reply, replay, err)
	}
	if _, _, err := claim("op", idempotency.Hash("op", []byte(`{"a":2}`))); !errors.Is(err, dbapi.ErrConflict) {
		t.Fatalf("same key, other body: %v; want conflict", err)
	}
	// A key is scoped to its operation: on another operation it is
	// another key, with its own reply.
	otherHash := idempotency.Hash("other", []byte(`{"a":1}`))
	if _, replay, err := claim("other", otherHash); err != nil || replay {
		t.Fatalf("same key, other operation: replay=%v err=%v; want a new claim", replay, err)
	}
	if reply, replay, err := claim("other", otherHash); err != nil || !replay || string(reply) != `"done other"` {
		t.Fatalf("repeat on the other operation: reply=%s replay=%v err=%v", reply, replay, err)
	}
	if reply, replay, err := claim("op", hash); err != nil || !replay || string(reply) != `"done op"` {
		t.Fatalf("repeat on the first operation: reply=%s replay=%v err=%v", reply, replay, err)
	}

	// A rolled-back claim leaves nothing behind.
	err = run(t, db, func(tx *sqlx.Tx) error {
		if _, _, err := s.Claim(ctx, tx, "k2", "op", hash); err != nil {
			return err
		}
		return errors.New("the work failed")
	})
	if err == nil {
		t.Fatal("want the work's error")
	}
	var n int
	db.Get(&n, "SELECT COUNT(*) FROM dbapi_idempotency_keys WHERE idem_key = 'k2'")
	if n != 0 {
		t.Errorf("a failed request stored its key")
	}

	// Once expired, the key counts as absent and a new request takes it.
	if _, err := db.Exec("UPDATE dbapi_idempotency_keys SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE idem_key = 'k1'"); err != nil {
		t.Fatal(err)
	}
	if _, replay, err := claim("op", idempotency.Hash("op", []byte(`{"a":3}`))); err != nil || replay {
		t.Fatalf("claim of an expired key: replay=%v err=%v", replay, err)
	}

	var live bool
	if err := db.Get(&live, "SELECT expires_at > UTC_TIMESTAMP(6) + INTERVAL 59 MINUTE FROM dbapi_idempotency_keys WHERE idem_key = 'k1' AND op = 'op'"); err != nil || !live {
		t.Fatalf("the taken-over key does not live for the TTL: %v %v", live, err)
	}

	// Sweep deletes only expired keys, in batches.
	for _, k := range []string{"old1", "old2", "old3"} {
		if _, err := db.Exec("INSERT INTO dbapi_idempotency_keys (idem_key, op, request_hash, reply, expires_at) VALUES (?, 'op', ?, 'x', UTC_TIMESTAMP(6) - INTERVAL 1 SECOND)", k, hash); err != nil {
			t.Fatal(err)
		}
	}
	deleted, err := s.Sweep(ctx, db, 2)
	if err != nil || deleted != 4 {
		t.Fatalf("Sweep = %d, %v; want 4 (3 old, and k1 of \"other\")", deleted, err)
	}
	db.Get(&n, "SELECT COUNT(*) FROM dbapi_idempotency_keys")
	if n != 1 {
		t.Errorf("%d keys left after the sweep; want the 1 live key", n)
	}
}

// A second claim of a key whose first claim has not committed waits for
// it, then replays its reply.
func TestClaimWaitsForTheFirst(t *testing.T) {
	db, _ := dbtest.New(t, schema.OwnSet())
	ctx := context.Background()
	s := &idempotency.Store{}
	hash := idempotency.Hash("op", nil)

	first, err := db.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	if _, replay, err := s.Claim(ctx, first, "k", "op", hash); err != nil || replay {
		t.Fatalf("first claim: %v %v", replay, err)
	}
	type result struct {
		reply  []byte
		replay bool
		err    error
	}
	done := make(chan result)
	go func() {
		var r result
		r.err = run(t, db, func(tx *sqlx.Tx) error {
			var err error
			r.reply, r.replay, err = s.Claim(ctx, tx, "k", "op", hash)
			return err
		})
		done <- r
	}()
	select {
	case r := <-done:
		t.Fatalf("second claim returned while the first was open: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	if err := s.Save(ctx, first, "k", "op", []byte("reply-1")); err != nil {
		t.Fatal(err)
	}
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || !r.replay || string(r.reply) != "reply-1" {
		t.Fatalf("second claim: %+v; want a replay of reply-1", r)
	}
}
