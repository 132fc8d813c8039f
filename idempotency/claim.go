package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
)

// What the key store (Store) and the outcome store (Outcomes) share: a
// key is claimed inside the request's own transaction by inserting its
// row, so that it is committed exactly when the request's work is; a key
// that has a row already belongs to one request (its operation and the
// hash of its body) and holds its reply.

// Hash returns the fingerprint of a request: its operation and its body,
// byte for byte.
func Hash(op string, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(op))
	h.Write([]byte{0})
	h.Write(body)
	return h.Sum(nil)
}

// claim inserts a key's row with insert, in tx. It returns found=false
// when the row is new: the key is the transaction's until it commits or
// rolls back. When the key has a row already (committed by an earlier
// request, or by a concurrent one that we waited for), it reads that row
// into dest with a locking read (the latest committed version) and
// returns found=true. race is the error for a row that vanished between
// the two (swept meanwhile): the whole transaction may run again.
func claim(ctx context.Context, tx *sqlx.Tx, insert string, insertArgs []any,
	read string, readArgs []any, dest any, race *dbapi.Error) (found bool, err error) {
	_, err = tx.ExecContext(ctx, insert, insertArgs...)
	if err == nil || !txrunner.IsDuplicateKey(err) {
		return false, err
	}
	err = tx.GetContext(ctx, dest, read+" LOCK IN SHARE MODE", readArgs...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, race
	}
	return err == nil, err
}

// belongs reports whether a stored row is the key's request for op with
// hash. A row stored before hashes were (hash nil) is compared by its
// operation only.
func belongs(storedOp string, storedHash []byte, op string, hash []byte) bool {
	return storedOp == op && (storedHash == nil || bytes.Equal(storedHash, hash))
}

// reused is the 409 idempotency_key_reused of a key used for another
// request; cause tells the stores' errors apart for errors.Is.
func reused(cause error, format string, args ...any) *dbapi.Error {
	e := dbapi.CodeErrorf(dbapi.ECONFLICT, "idempotency_key_reused", format, args...)
	e.Err = cause
	return e
}

// deleteExpired runs query (a DELETE ... LIMIT ?, batch last among its
// args) until fewer than batch rows go or ctx ends, and returns how many
// went.
func deleteExpired(ctx context.Context, db *sqlx.DB, batch int, query string, args ...any) (int64, error) {
	if batch <= 0 {
		batch = 1000
	}
	args = append(args, batch)
	var total int64
	for {
		res, err := db.ExecContext(ctx, query, args...)
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
