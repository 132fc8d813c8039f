package idempotency

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/protocol"
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

func (s *Store) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return DefaultTTL
}

// ErrKeyReused is the cause of the 409 idempotency_key_reused Claim
// returns, for errors.Is.
var ErrKeyReused = errors.New("the idempotency key was used for a different request")

var errKeyRace = dbapi.CodeErrorf(dbapi.EUNAVAILABLE, "idempotency_race", "the idempotency key changed while the request ran; retry")

// Claim takes key for this request of operation op inside tx. A key is
// scoped to its operation: the same key on two operations is two keys. It
// returns replay=true and the stored reply when the same request already
// committed under key; the caller then replies with it and does nothing
// else. Otherwise the key is held by tx and the caller does the work, then
// calls Save. The same key with another body is a 409
// idempotency_key_reused (ErrKeyReused).
func (s *Store) Claim(ctx context.Context, tx *sqlx.Tx, key, op string, hash []byte) (reply []byte, replay bool, err error) {
	var row struct {
		Hash    []byte `db:"request_hash"`
		Reply   []byte `db:"reply"`
		Expired bool   `db:"expired"`
	}
	found, err := claim(ctx, tx,
		"INSERT INTO dbapi_idempotency_keys (idem_key, op, request_hash, expires_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND)",
		[]any{key, op, hash, s.ttl().Microseconds()},
		"SELECT request_hash, reply, expires_at < UTC_TIMESTAMP(6) AS expired FROM dbapi_idempotency_keys WHERE idem_key = ? AND op = ?",
		[]any{key, op}, &row, errKeyRace)
	if err != nil || !found {
		return nil, false, err
	}
	if row.Expired {
		// An expired key counts as absent: take it over.
		_, err = tx.ExecContext(ctx,
			"UPDATE dbapi_idempotency_keys SET request_hash = ?, reply = NULL, created_at = UTC_TIMESTAMP(6), expires_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND WHERE idem_key = ? AND op = ?",
			hash, s.ttl().Microseconds(), key, op)
		return nil, false, err
	}
	if !belongs(op, row.Hash, op, hash) {
		return nil, false, reused(ErrKeyReused, "idempotency key %q was used for a different request to %s", key, op)
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
	return deleteExpired(ctx, db, batch, "DELETE FROM dbapi_idempotency_keys WHERE expires_at < UTC_TIMESTAMP(6) LIMIT ?")
}

// Table is the store's table.
func (s *Store) Table() string { return "dbapi_idempotency_keys" }
