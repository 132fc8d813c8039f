package txrunner

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"
	"syscall"

	"github.com/dbapi-dev/dbapi"
	"github.com/go-sql-driver/mysql"
)

// MySQL and MariaDB server error numbers this package acts on.
const (
	erCheckRead          = 1020 // MariaDB: record changed since last read (snapshot isolation)
	erConCount           = 1040 // too many connections
	erBadNull            = 1048
	erBadDB              = 1049 // unknown database
	erServerShutdown     = 1053
	erDupEntry           = 1062
	erTooManyUserConns   = 1203
	erLockWaitTimeout    = 1205
	erLockDeadlock       = 1213
	erOutOfRange         = 1264
	erTruncatedWrongVal  = 1292
	erOptionPrevents     = 1290 // the server runs with --read-only (read_only=1): it refuses writes
	erReadOnlyMode       = 1836 // MySQL: running in read-only mode (super_read_only, innodb_read_only)
	erDataTruncated      = 1265 // e.g. a value that is no member of an ENUM or SET
	erQueryInterrupted   = 1317
	erNoDefault          = 1364
	erTruncatedWrongFld  = 1366
	erDataTooLong        = 1406
	erRowIsReferenced    = 1451
	erNoReferencedRow    = 1452
	erRowIsReferenced2   = 1216 // older code for 1451
	erNoReferencedRowOld = 1217 // older code for 1452
	erStatementTimeout   = 1969 // MariaDB max_statement_time
	erQueryTimeout       = 3024 // MySQL max_execution_time
	erCheckViolated      = 3819 // MySQL CHECK constraint
	erConstraintFailed   = 4025 // MariaDB CHECK constraint
)

func mysqlNumber(err error) (uint16, bool) {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number, true
	}
	return 0, false
}

// isRetryable reports whether err means the server rolled back (or will
// roll back, once we do) and the same transaction may succeed if run again.
func isRetryable(err error) bool {
	n, ok := mysqlNumber(err)
	return ok && isRetryableNumber(n)
}

func isRetryableNumber(n uint16) bool {
	switch n {
	case erLockDeadlock, erLockWaitTimeout, erCheckRead:
		return true
	}
	return false
}

// isConnError reports whether err is a broken or refused connection.
func isConnError(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// classify turns any error from a transaction into a *dbapi.Error with a
// client-safe message. It is the only place that reads driver errors.
func classify(err error) *dbapi.Error {
	if err == nil {
		return nil
	}
	var de *dbapi.Error
	if errors.As(err, &de) {
		return de
	}
	e := &dbapi.Error{Kind: dbapi.EINTERNAL, Message: "internal error", Err: err}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		e.Kind, e.Message = dbapi.ETIMEOUT, "the deadline passed before the transaction committed; nothing was committed"
		return e
	case isConnError(err):
		e.Kind, e.Message = dbapi.EUNAVAILABLE, "the database is unavailable"
		return e
	}
	n, ok := mysqlNumber(err)
	if !ok {
		return e
	}
	switch n {
	case erDupEntry:
		e.Kind, e.Code, e.Message = dbapi.ECONFLICT, "duplicate", "a row with the same unique key already exists"
	case erLockDeadlock, erCheckRead:
		e.Kind, e.Code, e.Message = dbapi.ECONFLICT, "deadlock", "the transaction kept conflicting with others; retry later"
	case erLockWaitTimeout:
		e.Kind, e.Code, e.Message = dbapi.ECONFLICT, "lock_wait_timeout", "the transaction waited too long for a lock; retry later"
	case erNoReferencedRow, erNoReferencedRowOld:
		e.Kind, e.Code, e.Message = dbapi.EINVALID, "foreign_key", "a referenced row does not exist"
	case erRowIsReferenced, erRowIsReferenced2:
		e.Kind, e.Code, e.Message = dbapi.EINVALID, "foreign_key", "the row is still referenced by other rows"
	case erCheckViolated, erConstraintFailed:
		e.Kind, e.Code, e.Message = dbapi.EINVALID, "check_violation", "a value breaks a check constraint"
	case erDataTooLong:
		e.Kind, e.Code, e.Message = dbapi.EINVALID, "too_long", "a value is too long for its column"
	case erTruncatedWrongFld, erTruncatedWrongVal, erDataTruncated, erOutOfRange, erBadNull, erNoDefault:
		e.Kind, e.Code, e.Message = dbapi.EINVALID, "bad_value", "a value does not fit its column"
	case erConCount, erTooManyUserConns, erServerShutdown:
		e.Kind, e.Message = dbapi.EUNAVAILABLE, "the database is unavailable"
	case erOptionPrevents, erReadOnlyMode:
		// A read-only server (a replica, or a primary being switched over)
		// refused a write: the transaction did not commit, and may succeed
		// once a writable server is back.
		e.Kind, e.Message = dbapi.EUNAVAILABLE, "the database is read-only; nothing was committed"
	case erStatementTimeout, erQueryTimeout, erQueryInterrupted:
		e.Kind, e.Message = dbapi.ETIMEOUT, "a statement ran out of time; nothing was committed"
	}
	return e
}

// Classify exposes the error mapping to callers that run statements
// outside Run (such as migrations).
func Classify(err error) error {
	if err == nil {
		return nil
	}
	return classify(err)
}

// IsUnknownDatabase reports whether err is the server saying that the
// database named in the DSN does not exist.
func IsUnknownDatabase(err error) bool {
	n, ok := mysqlNumber(err)
	return ok && n == erBadDB
}

// Aborts reports whether err, returned by a statement inside a
// transaction, leaves that transaction unusable as a whole: the server
// rolled it back or will want it run again (a deadlock, a lock wait
// timeout, a changed snapshot), the connection broke, or the context
// ended. Any other error undid at most the statement that failed, so a
// ROLLBACK TO SAVEPOINT can take the transaction back to an earlier point
// and go on.
func Aborts(err error) bool {
	return isRetryable(err) || isConnError(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
