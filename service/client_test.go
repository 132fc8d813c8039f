package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/client"
	"github.com/dbapi-dev/dbapi/examples/bank/bank"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/jmoiron/sqlx"
)

// The Go client against the real service with the bank: results, typed
// errors, batches with a failed step, retries with one idempotency key,
// and the deadline sent as Dbapi-Timeout.
func TestClient(t *testing.T) {
	e := newEnv(t)
	var flaky atomic.Int32
	e.start(e.config(), func(m *Main) {
		m.App.Operations = append(m.App.Operations,
			// flaky.open opens an account, then fails as "unavailable"
			// (retryable; the transaction rolls back) on its first two
			// runs.
			dbapi.Operation{Name: "flaky.open", Run: func(ctx context.Context, tx *sqlx.Tx, raw json.RawMessage) (any, error) {
				if _, err := tx.ExecContext(ctx, "INSERT INTO accounts (owner, balance) VALUES ('flaky', 0)"); err != nil {
					return nil, err
				}
				if flaky.Add(1) <= 2 {
					return nil, dbapi.CodeErrorf(dbapi.EUNAVAILABLE, "unavailable", "not yet")
				}
				return map[string]int32{"runs": flaky.Load()}, nil
			}},
			// slow.wait waits for its transaction's deadline.
			dbapi.Operation{Name: "slow.wait", Run: func(ctx context.Context, tx *sqlx.Tx, raw json.RawMessage) (any, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			}},
		)
	})
	c := client.New(e.nc, e.prefix, client.WithRetries(4, 5*time.Millisecond, 20*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var a, b struct {
		ID      uint64 `json:"id"`
		Balance string `json:"balance"`
	}
	if err := c.Call(ctx, "accounts.open", map[string]any{"owner": "ann", "balance": "10.00"}, &a); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, "accounts.open", map[string]any{"owner": "bob"}, &b); err != nil {
		t.Fatal(err)
	}
	if a.Balance != "10.00" || b.Balance != "0.00" {
		t.Errorf("opened %+v and %+v", a, b)
	}

	t.Run("transfer, replayed with its key", func(t *testing.T) {
		key := client.NewKey()
		var r1, r2 bank.TransferResult
		var replayed bool
		params := map[string]any{"from": a.ID, "to": b.ID, "amount": "2.50"}
		if err := c.Call(ctx, "accounts.transfer", params, &r1, client.WithIdempotencyKey(key)); err != nil {
			t.Fatal(err)
		}
		if err := c.Call(ctx, "accounts.transfer", params, &r2, client.WithIdempotencyKey(key), client.Replayed(&replayed)); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(r1) != fmt.Sprint(r2) || !replayed || r1.FromBalance.String() != "7.50" {
			t.Errorf("first %+v, repeat %+v (replayed %v)", r1, r2, replayed)
		}
	})

	t.Run("typed errors", func(t *testing.T) {
		tests := []struct {
			op        string
			params    any
			status    int
			code      string
			retryable bool
		}{
			{"accounts.transfer", map[string]any{"from": a.ID, "to": b.ID, "amount": "1000.00"}, 409, "insufficient_funds", false},
			{"accounts.transfer", json.RawMessage(fmt.Sprintf(`{"from":%d,"from":%d,"to":%d,"amount":"1.00"}`, a.ID, b.ID, a.ID)), 400, "duplicate_param", false},
			{"accounts.get", map[string]any{"id": 999999999}, 404, "not_found", false},
			{"accounts.open", []byte("{\"owner\":\"\xff\"}"), 400, "bad_text", false},
			{"slow.wait", nil, 504, "timeout", true},
		}
		for _, tt := range tests {
			t.Run(tt.code, func(t *testing.T) {
				ctx := ctx
				if tt.op == "slow.wait" {
					// The service's own default is 30s here: only the
					// Dbapi-Timeout the client sends can make it answer
					// 504 before this context ends.
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, time.Second)
					defer cancel()
				}
				err := c.Call(ctx, tt.op, tt.params, nil)
				var ce *client.Error
				if !errors.As(err, &ce) || ce.Status != tt.status || ce.Code != tt.code || ce.Retryable != tt.retryable {
					t.Fatalf("Call: %v (%+v); want %d %s retryable=%v", err, ce, tt.status, tt.code, tt.retryable)
				}
			})
		}
	})

	t.Run("batch with a failed step", func(t *testing.T) {
		s1, _ := client.Step("accounts.open", map[string]any{"owner": "cy"}, "c")
		s2, _ := client.Step("accounts.transfer", map[string]any{"from": "$c.id", "to": a.ID, "amount": "5.00"}, "")
		_, err := c.Batch(ctx, []protocol.BatchStep{s1, s2})
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Code != "insufficient_funds" || ce.Step == nil || *ce.Step != 1 || ce.Op != "accounts.transfer" {
			t.Fatalf("Batch: %v (%+v); want step 1 accounts.transfer insufficient_funds", err, ce)
		}
		s2, _ = client.Step("accounts.get", map[string]any{"id": "$c.id"}, "")
		res, err := c.Batch(ctx, []protocol.BatchStep{s1, s2})
		if err != nil || len(res) != 2 {
			t.Fatalf("Batch: %v, %d results", err, len(res))
		}
	})

	t.Run("retries keep one key", func(t *testing.T) {
		key := fmt.Sprintf("flaky-%d", rand.Int64())
		var n int
		var res struct{ Runs int32 }
		if err := c.Call(ctx, "flaky.open", nil, &res, client.WithIdempotencyKey(key), client.Attempts(&n)); err != nil {
			t.Fatalf("Call: %v", err)
		}
		if n != 3 || res.Runs != 3 {
			t.Errorf("%d tries, %d runs; want 3 and 3", n, res.Runs)
		}
		var replayed bool
		if err := c.Call(ctx, "flaky.open", nil, &res, client.WithIdempotencyKey(key), client.Replayed(&replayed), client.Attempts(&n)); err != nil || !replayed || n != 1 {
			t.Errorf("repeat: %v, replayed %v, %d tries", err, replayed, n)
		}
		db := e.sqlx()
		var accounts, keys int
		db.Get(&accounts, "SELECT COUNT(*) FROM accounts WHERE owner = 'flaky'")
		db.Get(&keys, "SELECT COUNT(*) FROM dbapi_idempotency_keys WHERE idem_key = ?", key)
		if accounts != 1 || keys != 1 {
			t.Errorf("%d accounts, %d stored keys; want 1 and 1", accounts, keys)
		}
	})
}
