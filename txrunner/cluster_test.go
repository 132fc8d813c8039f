package txrunner_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
)

// signal is a statement that makes the real server answer with error
// number n and message msg, as a cluster node would (SIGNAL may set any
// MYSQL_ERRNO), so the runner's handling of clustered MySQL's errors is
// tested on real server replies. The fault suite (package faults) meets
// the same errors from a real Galera cluster.
func signal(n int, msg string) string {
	return fmt.Sprintf("SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = %d, MESSAGE_TEXT = '%s'", n, msg)
}

// What the runner does with each error of clustered MySQL: the reply's
// kind and code, whether the transaction runs again (and under which
// retry cause), and whether the connection that got the error is closed
// rather than given back to the pool.
func TestRunClusterErrors(t *testing.T) {
	db, cfg := setup(t, nil)
	db.SetMaxOpenConns(1) // every attempt gets the one connection, unless it was closed
	db.SetMaxIdleConns(1)
	other := otherDB(t, cfg)

	tests := []struct {
		name    string
		stmt    string
		kind    string
		code    string
		cause   string // retry cause; "" when not retried
		discard bool
	}{
		{"galera node not ready (1047)", signal(1047, "WSREP has not yet prepared node for application use"),
			dbapi.EUNAVAILABLE, dbapi.EUNAVAILABLE, "unavailable", true},
		{"galera certification failure (1213 wsrep)", signal(1213, "Deadlock: wsrep aborted transaction"),
			dbapi.ECONFLICT, "certification_conflict", "certification_conflict", false},
		{"plain deadlock (1213)", signal(1213, "Deadlock found when trying to get lock; try restarting transaction"),
			dbapi.ECONFLICT, "deadlock", "deadlock", false},
		{"group replication rollback during commit (3101)", signal(3101, "Plugin instructed the server to rollback the current transaction."),
			dbapi.ECONFLICT, "certification_conflict", "certification_conflict", false},
		{"group replication hook error (3100)", signal(3100, "Error on observer while running replication hook before_commit."),
			dbapi.EUNAVAILABLE, dbapi.EUNAVAILABLE, "unavailable", true},
		{"read-only after a failover (1290)", signal(1290, "The MariaDB server is running with the --read-only option so it cannot execute this statement"),
			dbapi.EUNAVAILABLE, dbapi.EUNAVAILABLE, "", true},
		{"super_read_only (1836)", signal(1836, "Running in read-only mode"),
			dbapi.EUNAVAILABLE, dbapi.EUNAVAILABLE, "", true},
		{"duplicate key (1062): neither retried nor discarded", signal(1062, "Duplicate entry"),
			dbapi.ECONFLICT, "duplicate", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var causes []string
			r := quietRunner(db, txrunner.Config{MaxAttempts: 3, OnRetry: func(c string) {
				mu.Lock()
				causes = append(causes, c)
				mu.Unlock()
			}})
			var conns []int64
			err := r.Run(testContext(t), txrunner.Options{}, func(ctx context.Context, tx *sqlx.Tx) error {
				var id int64
				if err := tx.GetContext(ctx, &id, "SELECT CONNECTION_ID()"); err != nil {
					return err
				}
				conns = append(conns, id)
				_, err := tx.ExecContext(ctx, tt.stmt)
				return err
			})
			de := asDBAPI(t, err)
			if de.Kind != tt.kind || de.ErrorCode() != tt.code {
				t.Errorf("error %s/%s, want %s/%s (%v)", de.Kind, de.ErrorCode(), tt.kind, tt.code, err)
			}
			checkClientSafe(t, de, cfg)
			wantAttempts := 1
			if tt.cause != "" {
				wantAttempts = 3
			}
			if len(conns) != wantAttempts {
				t.Fatalf("%d attempts, want %d", len(conns), wantAttempts)
			}
			for _, c := range causes {
				if c != tt.cause {
					t.Errorf("retry cause %q, want %q", c, tt.cause)
				}
			}
			if len(causes) != wantAttempts-1 {
				t.Errorf("%d retries counted, want %d", len(causes), wantAttempts-1)
			}
			// A discarded connection is closed: each attempt had a new
			// one, and none of them is left on the server. A kept one is
			// reused by every attempt and by the next transaction.
			for i := 1; i < len(conns); i++ {
				if same := conns[i] == conns[0]; same == tt.discard {
					t.Errorf("attempt %d ran on connection %d, the first on %d; discard = %v", i+1, conns[i], conns[0], tt.discard)
				}
			}
			if tt.discard {
				waitGone(t, other, conns)
			} else {
				var id int64
				if err := r.Run(testContext(t), txrunner.Options{}, func(ctx context.Context, tx *sqlx.Tx) error {
					return tx.GetContext(ctx, &id, "SELECT CONNECTION_ID()")
				}); err != nil {
					t.Fatal(err)
				}
				if id != conns[0] {
					t.Errorf("the next transaction ran on connection %d, want the kept %d", id, conns[0])
				}
			}
		})
	}
}

// A read-only statement run in autocommit mode gets the same treatment: a
// node that cannot serve loses its connection and the statement runs
// again on a new one.
func TestRunStatementDiscardsNodeNotReady(t *testing.T) {
	db, cfg := setup(t, nil)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	r := quietRunner(db, txrunner.Config{MaxAttempts: 2})
	var conns []int64
	err := r.RunStatement(testContext(t), txrunner.Options{}, func(ctx context.Context, q sqlx.ExtContext) error {
		var id int64
		if err := sqlx.GetContext(ctx, q, &id, "SELECT CONNECTION_ID()"); err != nil {
			return err
		}
		conns = append(conns, id)
		_, err := q.ExecContext(ctx, signal(1047, "WSREP has not yet prepared node for application use"))
		return err
	})
	if de := asDBAPI(t, err); de.Kind != dbapi.EUNAVAILABLE {
		t.Errorf("error %v, want unavailable", err)
	}
	if len(conns) != 2 || conns[0] == conns[1] {
		t.Fatalf("connections of the attempts: %v; want 2 different", conns)
	}
	waitGone(t, otherDB(t, cfg), conns)
}

// waitGone fails the test unless none of the connections ids is left on
// the server within a few seconds (the server notices a closed connection
// at once, but asynchronously).
func waitGone(t *testing.T, other *sql.DB, ids []int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := 0
		for _, id := range ids {
			var n int
			if err := other.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			left += n
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the connections %v are still open; want them closed", left, ids)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// AfterCommit runs once, after the COMMIT that succeeded, on the
// connection that committed (so a session variable such as @@last_gtid is
// the commit's); never for a transaction that did not commit.
func TestRunAfterCommit(t *testing.T) {
	db, _ := setup(t, nil, "CREATE TABLE t (id INT PRIMARY KEY)")
	r := quietRunner(db, txrunner.Config{MaxAttempts: 3})
	var inTx, after []int64
	opts := txrunner.Options{AfterCommit: func(ctx context.Context, conn *sqlx.Conn) {
		var id int64
		if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
			t.Error(err)
		}
		after = append(after, id)
	}}
	attempt := 0
	err := r.Run(testContext(t), opts, func(ctx context.Context, tx *sqlx.Tx) error {
		var id int64
		if err := tx.GetContext(ctx, &id, "SELECT CONNECTION_ID()"); err != nil {
			return err
		}
		inTx = append(inTx, id)
		if attempt++; attempt == 1 {
			_, err := tx.ExecContext(ctx, signal(1213, "Deadlock found when trying to get lock"))
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (1)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 1 || after[0] != inTx[len(inTx)-1] {
		t.Errorf("AfterCommit ran on %v; want once, on the committing connection %d", after, inTx[len(inTx)-1])
	}
	after = nil
	err = r.Run(testContext(t), opts, func(ctx context.Context, tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (1)") // a duplicate: no commit
		return err
	})
	if err == nil || len(after) != 0 {
		t.Errorf("a failed transaction: err %v, AfterCommit ran %d times; want an error and none", err, len(after))
	}
}
