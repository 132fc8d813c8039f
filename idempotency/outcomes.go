package idempotency

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
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
)

// Outcomes keeps the outcome of every durable request (package durable)
// in dbapi_durable_outcomes, under the request's key (its Nats-Msg-Id),
// the way Store keeps Idempotency-Key replies: claimed in the request's
// own transaction, and holding its whole reply (status, code, headers,
// body), failures included. Unlike an Idempotency-Key, an outcome key is
// not scoped to an operation: it names one request (its operation and
// body) whatever the operation.
type Outcomes struct {
	// TTL is how long outcomes are kept; zero keeps them for ever.
	TTL time.Duration
}

// Outcome is a stored reply.
type Outcome struct {
	Status int
	Code   string
	Header map[string][]string
	Body   []byte
}

// ErrOutcomeKeyReused is the cause of the 409 idempotency_key_reused the
// outcome store returns for a key that holds another request's outcome.
var ErrOutcomeKeyReused = errors.New("the key holds the outcome of another request")

var errOutcomeRace = dbapi.CodeErrorf(dbapi.EUNAVAILABLE, "outcome_race", "the outcome was swept while the request ran; retry")

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

// outcomeRow is a stored outcome and the request it belongs to.
type outcomeRow struct {
	Op      string         `db:"op"`
	Hash    []byte         `db:"request_hash"` // nil for rows stored before hashes were
	Status  sql.NullInt64  `db:"status"`
	Code    sql.NullString `db:"code"`
	Headers []byte         `db:"headers"`
	Body    []byte         `db:"body"`
}

const selectOutcome = "SELECT op, request_hash, status, code, headers, body FROM dbapi_durable_outcomes WHERE outcome_key = ?"

// outcome returns the stored outcome.
func (r outcomeRow) outcome() (Outcome, error) {
	if !r.Status.Valid {
		return Outcome{}, errors.New("a committed durable outcome has no status")
	}
	var h map[string][]string
	if len(r.Headers) > 0 {
		if err := json.Unmarshal(r.Headers, &h); err != nil {
			return Outcome{}, fmt.Errorf("stored outcome headers: %w", err)
		}
	}
	return Outcome{Status: int(r.Status.Int64), Code: r.Code.String, Header: h, Body: r.Body}, nil
}

// check returns the row's outcome if it is the request's, else the 409.
func (r outcomeRow) check(key, op string, hash []byte) (Outcome, error) {
	if !belongs(r.Op, r.Hash, op, hash) {
		return Outcome{}, reused(ErrOutcomeKeyReused,
			"%s %q was used for a different request (another operation or body); this one was not run", protocol.HeaderMsgID, key)
	}
	return r.outcome()
}

func encodeHeaders(h map[string][]string) []byte {
	if len(h) == 0 {
		return nil
	}
	b, _ := json.Marshal(h)
	return b
}

// Claim takes key for the request for op with hash inside tx, the
// request's own transaction, which holds the key until it commits. It
// returns nil when the key was free; the caller runs the request and
// calls Save. When the key has an outcome already (a redelivery, or a
// concurrent run of the same key that we waited for) it returns that
// outcome, and nothing must run; when the outcome is another request's, a
// 409 idempotency_key_reused (ErrOutcomeKeyReused).
func (o *Outcomes) Claim(ctx context.Context, tx *sqlx.Tx, key, op string, hash []byte) (*Outcome, error) {
	k := storedKey(key)
	var r outcomeRow
	found, err := claim(ctx, tx,
		"INSERT INTO dbapi_durable_outcomes (outcome_key, op, request_hash, created_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6))",
		[]any{k, op, hash}, selectOutcome, []any{k}, &r, errOutcomeRace)
	if err != nil || !found {
		return nil, err
	}
	out, err := r.check(key, op, hash)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Save stores the outcome of the request that claimed key in tx.
func (o *Outcomes) Save(ctx context.Context, tx *sqlx.Tx, key string, out Outcome) error {
	_, err := tx.ExecContext(ctx,
		"UPDATE dbapi_durable_outcomes SET status = ?, code = ?, headers = ?, body = ? WHERE outcome_key = ?",
		out.Status, out.Code, encodeHeaders(out.Header), out.Body, storedKey(key))
	return err
}

// Runner runs a transaction (*txrunner.Runner is one).
type Runner interface {
	Run(ctx context.Context, opts txrunner.Options, fn txrunner.Func) error
}

// SaveFailure stores the error outcome out as key's, for the request for
// op with hash, in a transaction of its own, unless key has an outcome
// already. It returns the earlier outcome if there is one (earlier=true),
// or a 409 idempotency_key_reused if the earlier one is another
// request's.
func (o *Outcomes) SaveFailure(ctx context.Context, runner Runner, key, op string, hash []byte, out Outcome) (stored Outcome, earlier bool, err error) {
	k := storedKey(key)
	err = runner.Run(ctx, txrunner.Options{}, func(ctx context.Context, tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO dbapi_durable_outcomes (outcome_key, op, request_hash, status, code, headers, body, created_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6))
			 ON DUPLICATE KEY UPDATE outcome_key = outcome_key`,
			k, op, hash, out.Status, out.Code, encodeHeaders(out.Header), out.Body)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			stored, earlier = out, false
			return nil
		}
		var r outcomeRow
		if err := tx.GetContext(ctx, &r, selectOutcome, k); err != nil {
			return err
		}
		stored, earlier = Outcome{}, true
		stored, err = r.check(key, op, hash)
		return err
	})
	return stored, earlier, err
}

// Lookup returns key's outcome, or ok=false while it has none.
func (o *Outcomes) Lookup(ctx context.Context, runner Runner, key string) (out Outcome, ok bool, err error) {
	err = runner.Run(ctx, txrunner.Options{ReadOnly: true}, func(ctx context.Context, tx *sqlx.Tx) error {
		var r outcomeRow
		err := tx.GetContext(ctx, &r, selectOutcome+" AND status IS NOT NULL", storedKey(key))
		if errors.Is(err, sql.ErrNoRows) {
			ok = false
			return nil
		}
		if err != nil {
			return err
		}
		out, err = r.outcome()
		ok = err == nil
		return err
	})
	return out, ok, err
}

// Sweep deletes outcomes older than TTL, batch rows at a time, until none
// are left or ctx ends. With no TTL it deletes nothing.
func (o *Outcomes) Sweep(ctx context.Context, db *sqlx.DB, batch int) (int64, error) {
	if o.TTL <= 0 {
		return 0, nil
	}
	return deleteExpired(ctx, db, batch,
		"DELETE FROM dbapi_durable_outcomes WHERE created_at < UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND LIMIT ?", o.TTL.Microseconds())
}

// Table is the store's table.
func (o *Outcomes) Table() string { return "dbapi_durable_outcomes" }
