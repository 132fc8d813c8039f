// Package txrunner runs a function as one MySQL transaction on a shared
// connection pool, and turns what the database says into dbapi errors.
//
// Run begins a transaction, calls the function, and commits. Any error or
// panic rolls the transaction back. Deadlocks (1213) and lock-wait timeouts
// (1205) roll back and re-run the whole function, with jittered exponential
// backoff, up to a bounded number of attempts; so does a broken connection
// found when the transaction begins. Once COMMIT has been sent, nothing is
// retried: a COMMIT whose reply was lost is reported as
// dbapi.ErrCommitUnknown, never as success or as plain failure.
//
// Clustered MySQL adds errors of its own, in the same table (error.go): a
// Galera node that is joining or outside the primary component (1047) or
// a Group Replication member whose commit hook failed (3100) is
// unavailable, and the transaction runs again on a new connection; a
// certification conflict (Galera's 1213 "wsrep aborted transaction",
// Group Replication's 3101) is retried like a deadlock, under its own
// cause; a server that turned read-only in a failover (1290, 1836) is a
// 503 at once. Each transaction runs on a connection of its own from the
// pool, and a connection whose server cannot serve now is closed rather
// than given back, so that the pool reconnects (through a proxy, to a
// server that can).
//
// A *sql.Tx belongs to one goroutine. The function gets its own transaction
// and must neither share it nor use the pool while it runs (a goroutine that
// holds a connection and asks for a second can deadlock a full pool).
//
// The package is the only reader of driver errors: besides the mapping of
// Run's errors, Constraint names the constraint a statement broke (for
// declared operations' own errors) and LoginRefused a login the server
// refused (Open returns a *LoginError).
package txrunner
