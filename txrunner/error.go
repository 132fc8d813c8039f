package txrunner

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"
	"strings"
	"syscall"

	"github.com/dbapi-dev/dbapi"
	"github.com/go-sql-driver/mysql"
)

// MySQL and MariaDB server error numbers this package acts on.
const (
	erCheckRead          = 1020 // MariaDB: record changed since last read (snapshot isolation)
	erConCount           = 1040 // too many connections
	erUnknownCom         = 1047 // Galera: "WSREP has not yet prepared node for application use"
	erBadNull            = 1048
	erBadDB              = 1049 // unknown database
	erServerShutdown     = 1053
	erDupEntry           = 1062
	erTooManyUserConns   = 1203
	erLockWaitTimeout    = 1205
	erErrorDuringCommit  = 1180 // "Got error %d during COMMIT" (Galera: the node lost the cluster)
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
	erRunHook            = 3100 // MySQL Group Replication: "Error on observer while running replication hook 'before_commit'"
	erRollbackOnCommit   = 3101 // MySQL Group Replication: "Plugin instructed the server to rollback the current transaction"
	erCheckViolated      = 3819 // MySQL CHECK constraint
	erConstraintFailed   = 4025 // MariaDB CHECK constraint
)

// meaning is what a server error means to the service.
type meaning struct {
	kind, code string
	message    string // for clients: never the server's own text
	// retry: the server rolled the transaction back (or will, once we
	// do) and the same transaction may succeed if run again.
	retry bool
	// discard: the server behind this connection cannot serve now (a
	// Galera node outside the primary component, a server that turned
	// read-only in a failover). The connection is closed instead of going
	// back to the pool, so that the next one is made afresh: through a
	// proxy, to a server that can.
	discard bool
}

const (
	msgUnavailable = "the database is unavailable"
	msgReadOnly    = "the database is read-only; nothing was committed"
	msgNodeNotUp   = "the database server cannot serve requests now (a cluster node that is joining or outside the primary component); nothing was committed"
	msgDeadlock    = "the transaction kept conflicting with others; retry later"
	msgCertify     = "the transaction kept conflicting with writes on other cluster nodes; retry later"
	msgTimedOut    = "a statement ran out of time; nothing was committed"
	msgBadValue    = "a value does not fit its column"
	msgForeignKey  = "a referenced row does not exist"
	msgReferenced  = "the row is still referenced by other rows"
)

// meanings is the one table of what each server error means: the reply
// kind and code, the message clients see, whether the transaction is run
// again and whether the connection is dropped. An error number it does
// not list is an internal error. Written from the MySQL and MariaDB
// error references, the Galera documentation (1047, and 1213 for a
// certification failure) and MySQL's Group Replication documentation
// (3100, 3101).
var meanings = map[uint16]meaning{
	erDupEntry:           {kind: dbapi.ECONFLICT, code: "duplicate", message: "a row with the same unique key already exists"},
	erLockDeadlock:       {kind: dbapi.ECONFLICT, code: "deadlock", message: msgDeadlock, retry: true},
	erCheckRead:          {kind: dbapi.ECONFLICT, code: "deadlock", message: msgDeadlock, retry: true},
	erLockWaitTimeout:    {kind: dbapi.ECONFLICT, code: "lock_wait_timeout", message: "the transaction waited too long for a lock; retry later", retry: true},
	erRollbackOnCommit:   {kind: dbapi.ECONFLICT, code: "certification_conflict", message: msgCertify, retry: true},
	erNoReferencedRow:    {kind: dbapi.EINVALID, code: "foreign_key", message: msgForeignKey},
	erNoReferencedRowOld: {kind: dbapi.EINVALID, code: "foreign_key", message: msgForeignKey},
	erRowIsReferenced:    {kind: dbapi.EINVALID, code: "foreign_key", message: msgReferenced},
	erRowIsReferenced2:   {kind: dbapi.EINVALID, code: "foreign_key", message: msgReferenced},
	erCheckViolated:      {kind: dbapi.EINVALID, code: "check_violation", message: "a value breaks a check constraint"},
	erConstraintFailed:   {kind: dbapi.EINVALID, code: "check_violation", message: "a value breaks a check constraint"},
	erDataTooLong:        {kind: dbapi.EINVALID, code: "too_long", message: "a value is too long for its column"},
	erTruncatedWrongFld:  {kind: dbapi.EINVALID, code: "bad_value", message: msgBadValue},
	erTruncatedWrongVal:  {kind: dbapi.EINVALID, code: "bad_value", message: msgBadValue},
	erDataTruncated:      {kind: dbapi.EINVALID, code: "bad_value", message: msgBadValue},
	erOutOfRange:         {kind: dbapi.EINVALID, code: "bad_value", message: msgBadValue},
	erBadNull:            {kind: dbapi.EINVALID, code: "bad_value", message: msgBadValue},
	erNoDefault:          {kind: dbapi.EINVALID, code: "bad_value", message: msgBadValue},
	erConCount:           {kind: dbapi.EUNAVAILABLE, message: msgUnavailable},
	erTooManyUserConns:   {kind: dbapi.EUNAVAILABLE, message: msgUnavailable},
	erServerShutdown:     {kind: dbapi.EUNAVAILABLE, message: msgUnavailable, discard: true},
	// A Galera node that is joining, or outside the primary component,
	// refuses every statement: nothing ran there. Another node (through a
	// proxy) or the same one a moment later may serve.
	erUnknownCom: {kind: dbapi.EUNAVAILABLE, message: msgNodeNotUp, retry: true, discard: true},
	// Group Replication's hook failed before the commit (the member left
	// the group, or is not ONLINE): the transaction was rolled back.
	erRunHook: {kind: dbapi.EUNAVAILABLE, message: msgNodeNotUp, retry: true, discard: true},
	// A read-only server (a replica, or a primary demoted in a failover)
	// refused a write: nothing was committed. The connection is dropped so
	// that the pool reconnects, through a proxy to the new primary; the
	// request is not run again here (a server that stays read-only would
	// only delay the 503).
	erOptionPrevents:   {kind: dbapi.EUNAVAILABLE, message: msgReadOnly, discard: true},
	erReadOnlyMode:     {kind: dbapi.EUNAVAILABLE, message: msgReadOnly, discard: true},
	erStatementTimeout: {kind: dbapi.ETIMEOUT, message: msgTimedOut},
	erQueryTimeout:     {kind: dbapi.ETIMEOUT, message: msgTimedOut},
	erQueryInterrupted: {kind: dbapi.ETIMEOUT, message: msgTimedOut},
}

// certification is the meaning of a 1213 that Galera gives a transaction
// it aborted because a write set of another node touched the same rows: at
// COMMIT (see commitError; measured with MariaDB 10.11 and galera-4 26.4,
// with InnoDB's own "Deadlock found when trying to get lock" text) or, as a
// brute-force abort, at the next statement (which cannot be told from an
// InnoDB deadlock unless the text names wsrep, as "Deadlock: wsrep aborted
// transaction" does). It is rolled back and may be run again, as a
// deadlock, but counted under its own cause.
var certification = meaning{kind: dbapi.ECONFLICT, code: "certification_conflict", message: msgCertify, retry: true}

func mysqlNumber(err error) (uint16, bool) {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number, true
	}
	return 0, false
}

// serverMeaning returns what a server error means, and false for an error
// that is not the server's or that the table does not list.
func serverMeaning(err error) (meaning, bool) {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return meaning{}, false
	}
	if me.Number == erLockDeadlock && strings.Contains(strings.ToLower(me.Message), "wsrep") {
		return certification, true
	}
	m, ok := meanings[me.Number]
	return m, ok
}

// isRetryable reports whether err means the server rolled back (or will
// roll back, once we do) and the same transaction may succeed if run again.
func isRetryable(err error) bool {
	m, ok := serverMeaning(err)
	return ok && m.retry
}

// discards reports whether the connection that returned err must be
// closed rather than reused: its server cannot serve now.
func discards(err error) bool {
	m, ok := serverMeaning(err)
	return ok && m.discard
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
		e.Kind, e.Message = dbapi.EUNAVAILABLE, msgUnavailable
		return e
	}
	if m, ok := serverMeaning(err); ok {
		e.Kind, e.Code, e.Message = m.kind, m.code, m.message
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

// ErrorNumber returns the server's error number in err's chain, for a
// caller that acts on one this package's table does not (replica's
// status queries, where an access denied means a missing grant).
func ErrorNumber(err error) (uint16, bool) { return mysqlNumber(err) }

// IsDuplicateKey reports whether err is the server refusing a row whose
// unique key another row has (1062).
func IsDuplicateKey(err error) bool {
	n, ok := mysqlNumber(err)
	return ok && n == erDupEntry
}

// Aborts reports whether err, returned by a statement inside a
// transaction, leaves that transaction unusable as a whole: the server
// rolled it back or will want it run again (a deadlock, a lock wait
// timeout, a changed snapshot, a cluster node that cannot serve), the
// connection broke, or the context ended. Any other error undid at most
// the statement that failed, so a ROLLBACK TO SAVEPOINT can take the
// transaction back to an earlier point and go on.
func Aborts(err error) bool {
	return isRetryable(err) || discards(err) || isConnError(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
