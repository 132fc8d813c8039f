package durable

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/idempotency"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
)

// maxKey is the longest key stored as it is; a longer one is stored as
// its SHA-256.
const maxKey = 255

// storedKey returns the column value for key.
func storedKey(key string) string {
	if len(key) <= maxKey {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// outcomes keeps the outcome of every durable request in
// dbapi_durable_outcomes.
type outcomes struct {
	runner executor.Runner
}

// row is a stored outcome, and the request it belongs to.
type row struct {
	Op      string         `db:"op"`
	Hash    []byte         `db:"request_hash"` // nil for rows stored before hashes were
	Status  sql.NullInt64  `db:"status"`
	Code    sql.NullString `db:"code"`
	Headers []byte         `db:"headers"`
	Body    []byte         `db:"body"`
}

// reply returns the stored outcome as a replayed reply: its status,
// headers and body as in the original reply, plus Dbapi-Replayed: true.
func (r row) reply() (executor.Reply, error) {
	if !r.Status.Valid {
		return executor.Reply{}, errors.New("a committed durable outcome has no status")
	}
	h := map[string][]string{}
	if len(r.Headers) > 0 {
		if err := json.Unmarshal(r.Headers, &h); err != nil {
			return executor.Reply{}, fmt.Errorf("stored outcome headers: %w", err)
		}
	}
	h[executor.HeaderReplayed] = []string{"true"}
	return executor.Reply{Status: int(r.Status.Int64), Code: r.Code.String, Header: h, Body: r.Body, Replayed: true}, nil
}

func encodeHeaders(h map[string][]string) []byte {
	if len(h) == 0 {
		return nil
	}
	b, _ := json.Marshal(h)
	return b
}

// belongs reports whether the stored row is the outcome of the request
// for op with hash: a key is one request's (its operation and body).
func (r row) belongs(op string, hash []byte) bool {
	return r.Op == op && (r.Hash == nil || bytes.Equal(r.Hash, hash))
}

// errKeyReused is the cause of keyReused's error, for errors.Is.
var errKeyReused = errors.New("the key holds the outcome of another request")

// keyReused answers a message whose key holds the outcome of another
// request: it runs nothing and leaves that outcome as it is.
func keyReused(key string) error {
	e := dbapi.CodeErrorf(dbapi.ECONFLICT, "idempotency_key_reused",
		"%s %q was used for a different request (another operation or body); this one was not run", protocol.HeaderMsgID, key)
	e.Err = errKeyReused
	return e
}

const selectRow = "SELECT op, request_hash, status, code, headers, body FROM dbapi_durable_outcomes WHERE outcome_key = ?"

// hook returns the TxHook that claims key for the request for op with
// body in the request's transaction, and stores its reply there.
func (o *outcomes) hook(key, op string, body []byte) executor.TxHook {
	return &outcomeHook{key: key, stored: storedKey(key), op: op, hash: idempotency.Hash(op, body)}
}

type outcomeHook struct {
	key, stored, op string
	hash            []byte
}

// Before inserts the key's row, which the transaction holds until it
// commits. If the row exists, the key already has an outcome (a
// concurrent run of the same key waits for the first to commit or roll
// back): that outcome is the reply, and nothing runs; or, if the outcome
// is another request's, the request is refused with 409
// idempotency_key_reused.
func (h *outcomeHook) Before(ctx context.Context, tx *sqlx.Tx) (*executor.Reply, error) {
	_, err := tx.ExecContext(ctx,
		"INSERT INTO dbapi_durable_outcomes (outcome_key, op, request_hash, created_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6))", h.stored, h.op, h.hash)
	if err == nil || !txrunner.IsDuplicateKey(err) {
		return nil, err
	}
	var r row
	err = tx.GetContext(ctx, &r, selectRow+" LOCK IN SHARE MODE", h.stored)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, dbapi.CodeErrorf(dbapi.EUNAVAILABLE, "outcome_race", "the outcome was swept while the request ran; retry")
	}
	if err != nil {
		return nil, err
	}
	if !r.belongs(h.op, h.hash) {
		return nil, keyReused(h.key)
	}
	reply, err := r.reply()
	if err != nil {
		return nil, err
	}
	return &reply, nil
}

// After stores the reply under the key.
func (h *outcomeHook) After(ctx context.Context, tx *sqlx.Tx, r executor.Reply) error {
	_, err := tx.ExecContext(ctx,
		"UPDATE dbapi_durable_outcomes SET status = ?, code = ?, headers = ?, body = ? WHERE outcome_key = ?",
		r.Status, r.Code, encodeHeaders(r.Header), r.Body, h.stored)
	return err
}

// saveFailure stores the error reply r as the outcome of key, for the
// request for op with body, in a transaction of its own, unless key
// already has one. It returns the outcome key now has: r, or the earlier
// one; or a 409 idempotency_key_reused if the earlier one is another
// request's.
func (o *outcomes) saveFailure(ctx context.Context, key, op string, body []byte, r executor.Reply) (executor.Reply, error) {
	k, hash := storedKey(key), idempotency.Hash(op, body)
	var stored executor.Reply
	err := o.runner.Run(ctx, txrunner.Options{}, func(ctx context.Context, tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO dbapi_durable_outcomes (outcome_key, op, request_hash, status, code, headers, body, created_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6))
			 ON DUPLICATE KEY UPDATE outcome_key = outcome_key`,
			k, op, hash, r.Status, r.Code, encodeHeaders(r.Header), r.Body)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			stored = r
			return nil
		}
		var row row
		if err := tx.GetContext(ctx, &row, selectRow, k); err != nil {
			return err
		}
		if !row.belongs(op, hash) {
			return keyReused(key)
		}
		stored, err = row.reply()
		return err
	})
	return stored, err
}

// lookup returns key's outcome, or ok=false while it has none.
func (o *outcomes) lookup(ctx context.Context, key string) (r executor.Reply, ok bool, err error) {
	err = o.runner.Run(ctx, txrunner.Options{ReadOnly: true}, func(ctx context.Context, tx *sqlx.Tx) error {
		var rw row
		err := tx.GetContext(ctx, &rw, selectRow+" AND status IS NOT NULL", storedKey(key))
		if errors.Is(err, sql.ErrNoRows) {
			ok = false
			return nil
		}
		if err != nil {
			return err
		}
		r, err = rw.reply()
		ok = err == nil
		return err
	})
	return r, ok, err
}

// sweep deletes outcomes older than ttl, batch rows at a time, until none
// are left or ctx ends.
func (o *outcomes) sweep(ctx context.Context, ttl time.Duration, batch int) (int64, error) {
	var total int64
	for {
		var n int64
		err := o.runner.Run(ctx, txrunner.Options{}, func(ctx context.Context, tx *sqlx.Tx) error {
			res, err := tx.ExecContext(ctx,
				"DELETE FROM dbapi_durable_outcomes WHERE created_at < UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND LIMIT ?", ttl.Microseconds(), batch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		total += n
		if err != nil || n < int64(batch) {
			return total, err
		}
	}
}
