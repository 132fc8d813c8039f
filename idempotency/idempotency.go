package idempotency

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
)

// HeaderKey is the request header that carries the key; HeaderReplayed is
// set to "true" on a reply that was replayed from the store.
const (
	HeaderKey      = protocol.HeaderIdempotencyKey
	HeaderReplayed = protocol.HeaderReplayed
)

// DefaultTTL is how long a stored key is honoured.
const DefaultTTL = 24 * time.Hour

// Store keeps keys in the dbapi_idempotency_keys table.
type Store struct {
	TTL time.Duration // default DefaultTTL
}

// ValidKey checks a key: 1 to 128 printable ASCII characters, without
// white space at either end (NATS trims a header value's leading blanks,
// so " k" and "k" could not be told apart).
func ValidKey(key string) error {
	bad := func() error {
		return dbapi.CodeErrorf(dbapi.EINVALID, "bad_idempotency_key", "header %s: want 1 to 128 printable ASCII characters, not blank at either end", HeaderKey)
	}
	if len(key) == 0 || len(key) > 128 || key[0] == ' ' || key[len(key)-1] == ' ' {
		return bad()
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return bad()
		}
	}
	return nil
}

// Hash returns the fingerprint of a request: its operation and its body,
// byte for byte.
func Hash(op string, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(op))
	h.Write([]byte{0})
	h.Write(body)
	return h.Sum(nil)
}

func (s *Store) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return DefaultTTL
}

// Claim takes key for this request of operation op inside tx. A key is
// scoped to its operation: the same key on two operations is two keys. It returns replay=true and
// the stored reply when the same request already committed under key; the
// caller then replies with it and does nothing else. Otherwise the key is
// held by tx and the caller does the work, then calls Save.
func (s *Store) Claim(ctx context.Context, tx *sqlx.Tx, key, op string, hash []byte) (reply []byte, replay bool, err error) {
	_, err = tx.ExecContext(ctx,
		"INSERT INTO dbapi_idempotency_keys (idem_key, op, request_hash, expires_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND)",
		key, op, hash, s.ttl().Microseconds())
	if err == nil {
		return nil, false, nil
	}
	if !txrunner.IsDuplicateKey(err) {
		return nil, false, err
	}
	// The key was committed by an earlier request of the same operation
	// (we waited for it if it was still running). A locking read sees the
	// latest committed row.
	var row struct {
		Hash    []byte `db:"request_hash"`
		Reply   []byte `db:"reply"`
		Expired bool   `db:"expired"`
	}
	err = tx.GetContext(ctx, &row,
		"SELECT request_hash, reply, expires_at < UTC_TIMESTAMP(6) AS expired FROM dbapi_idempotency_keys WHERE idem_key = ? AND op = ? LOCK IN SHARE MODE", key, op)
	if errors.Is(err, sql.ErrNoRows) {
		// Swept between our INSERT and SELECT: let the whole transaction
		// run again.
		return nil, false, dbapi.CodeErrorf(dbapi.EUNAVAILABLE, "idempotency_race", "the idempotency key changed while the request ran; retry")
	}
	if err != nil {
		return nil, false, err
	}
	if row.Expired {
		// An expired key counts as absent: take it over.
		_, err = tx.ExecContext(ctx,
			"UPDATE dbapi_idempotency_keys SET request_hash = ?, reply = NULL, created_at = UTC_TIMESTAMP(6), expires_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND WHERE idem_key = ? AND op = ?",
			hash, s.ttl().Microseconds(), key, op)
		return nil, false, err
	}
	if string(row.Hash) != string(hash) {
		return nil, false, dbapi.CodeErrorf(dbapi.ECONFLICT, "idempotency_key_reused",
			"idempotency key %q was used for a different request to %s", key, op)
	}
	if row.Reply == nil {
		return nil, false, fmt.Errorf("idempotency key %q is committed without a reply", key)
	}
	return row.Reply, true, nil
}

// Save stores the reply for key of operation op, which tx claimed.
func (s *Store) Save(ctx context.Context, tx *sqlx.Tx, key, op string, reply []byte) error {
	_, err := tx.ExecContext(ctx, "UPDATE dbapi_idempotency_keys SET reply = ? WHERE idem_key = ? AND op = ?", reply, key, op)
	return err
}

// Sweep deletes expired keys, batch rows at a time, until none are left or
// ctx ends. It returns how many it deleted.
func (s *Store) Sweep(ctx context.Context, db *sqlx.DB, batch int) (int64, error) {
	if batch <= 0 {
		batch = 1000
	}
	var total int64
	for {
		res, err := db.ExecContext(ctx, "DELETE FROM dbapi_idempotency_keys WHERE expires_at < UTC_TIMESTAMP(6) LIMIT ?", batch)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}

// SweepEvery runs Sweep every interval until ctx ends.
func (s *Store) SweepEvery(ctx context.Context, db *sqlx.DB, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.Sweep(ctx, db, 1000)
		if err != nil && ctx.Err() == nil {
			log.Warn("idempotency sweep failed", "err", err)
		} else if n > 0 {
			log.Debug("idempotency keys expired", "deleted", n)
		}
	}
}
