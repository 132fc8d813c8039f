package durable

import (
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
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

const erDupEntry = 1062

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

// row is a stored outcome.
type row struct {
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

// hook returns the TxHook that claims key in the request's transaction
// and stores its reply there.
func (o *outcomes) hook(key, op string) executor.TxHook {
	return &outcomeHook{key: storedKey(key), op: op}
}

type outcomeHook struct{ key, op string }

// Before inserts the key's row, which the transaction holds until it
// commits. If the row exists, the key already has an outcome (a
// concurrent run of the same key waits for the first to commit or roll
// back): that outcome is the reply, and nothing runs.
func (h *outcomeHook) Before(ctx context.Context, tx *sqlx.Tx) (*executor.Reply, error) {
	_, err := tx.ExecContext(ctx,
		"INSERT INTO dbapi_durable_outcomes (outcome_key, op, created_at) VALUES (?, ?, UTC_TIMESTAMP(6))", h.key, h.op)
	if err == nil {
		return nil, nil
	}
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != erDupEntry {
		return nil, err
	}
	var r row
	err = tx.GetContext(ctx, &r, "SELECT status, code, headers, body FROM dbapi_durable_outcomes WHERE outcome_key = ? LOCK IN SHARE MODE", h.key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, dbapi.CodeErrorf(dbapi.EUNAVAILABLE, "outcome_race", "the outcome was swept while the request ran; retry")
	}
	if err != nil {
		return nil, err
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
		r.Status, r.Code, encodeHeaders(r.Header), r.Body, h.key)
	return err
}

// saveFailure stores the error reply r as key's outcome, in a transaction
// of its own, unless key already has one. It returns the outcome key now
// has: r, or the earlier one.
func (o *outcomes) saveFailure(ctx context.Context, key, op string, r executor.Reply) (executor.Reply, error) {
	k := storedKey(key)
	var stored executor.Reply
	err := o.runner.Run(ctx, txrunner.Options{}, func(ctx context.Context, tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO dbapi_durable_outcomes (outcome_key, op, status, code, headers, body, created_at)
			 VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6))
			 ON DUPLICATE KEY UPDATE outcome_key = outcome_key`,
			k, op, r.Status, r.Code, encodeHeaders(r.Header), r.Body)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			stored = r
			return nil
		}
		var row row
		if err := tx.GetContext(ctx, &row, "SELECT status, code, headers, body FROM dbapi_durable_outcomes WHERE outcome_key = ?", k); err != nil {
			return err
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
		err := tx.GetContext(ctx, &rw, "SELECT status, code, headers, body FROM dbapi_durable_outcomes WHERE outcome_key = ? AND status IS NOT NULL", storedKey(key))
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
