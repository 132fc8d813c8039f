package txrunner

// Tests of unexported helpers that need no server. (Tests that use the
// server live in package txrunner_test: internal/dbtest imports txrunner.)

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/go-sql-driver/mysql"
)

// commitError must never call a COMMIT failed-for-sure unless COMMIT
// certainly did not take effect. The errors here are the values the driver
// and database/sql return; TestRunCommitLost shows the real one end to end.
func TestCommitError(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		unknown bool // reported as dbapi.ErrCommitUnknown
		retry   bool
	}{
		{"success", nil, false, false},
		{"reply lost (what a killed connection gives)", mysql.ErrInvalidConn, true, false},
		// ErrBadConn promises nothing was written; still reported unknown,
		// which is safe if pessimistic.
		{"bad connection", driver.ErrBadConn, true, false},
		{"network error", &fakeNetErr{}, true, false},
		{"server refused: deadlock", &mysql.MySQLError{Number: 1213}, false, true},
		{"server refused: other", &mysql.MySQLError{Number: 1062}, false, false},
		{"galera certification failure", &mysql.MySQLError{Number: 1213, Message: "Deadlock: wsrep aborted transaction"}, false, true},
		{"galera certification failure, InnoDB's text", &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}, false, true},
		{"group replication rollback", &mysql.MySQLError{Number: 3101}, false, true},
		// A cluster node that lost the cluster while it replicated the
		// COMMIT cannot say whether the other nodes applied it.
		{"galera node left the cluster during COMMIT (1047)", &mysql.MySQLError{Number: 1047, Message: "WSREP has not yet prepared node for application use"}, true, false},
		{"galera: got error during COMMIT (1180)", &mysql.MySQLError{Number: 1180, Message: "Got error 6 \"No such device or address\" during COMMIT"}, true, false},
		{"context checked before COMMIT", context.DeadlineExceeded, false, false},
		{"rolled back before COMMIT", sql.ErrTxDone, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err, retry := commitError(tt.err)
			if (err == nil) != (tt.err == nil) {
				t.Fatalf("commitError(%v) = %v", tt.err, err)
			}
			if got := errors.Is(err, dbapi.ErrCommitUnknown); got != tt.unknown {
				t.Errorf("commit unknown = %v, want %v (%v)", got, tt.unknown, err)
			}
			if retry != tt.retry {
				t.Errorf("retry = %v, want %v", retry, tt.retry)
			}
			if n, _ := mysqlNumber(tt.err); n == 1213 && classify(err).ErrorCode() != "certification_conflict" {
				t.Errorf("a 1213 at COMMIT is %s; want certification_conflict", classify(err).ErrorCode())
			}
		})
	}
}

// A read-only server refuses writes with 1290 (MariaDB, MySQL read_only)
// or 1836 (MySQL super_read_only): unavailable, so the client is told 503
// and may retry, not 500. The fault suite (package faults) checks it
// against a real read-only MariaDB.
func TestClassifyReadOnly(t *testing.T) {
	for _, n := range []uint16{1290, 1836} {
		e := classify(fmt.Errorf("exec: %w", &mysql.MySQLError{Number: n, Message: "The MariaDB server is running with the --read-only option"}))
		if e.Kind != dbapi.EUNAVAILABLE || !e.Retryable() {
			t.Errorf("error %d: kind %s (retryable %v), want %s", n, e.Kind, e.Retryable(), dbapi.EUNAVAILABLE)
		}
		if strings.Contains(e.Message, "--read-only") {
			t.Errorf("error %d: client message %q holds the server's text", n, e.Message)
		}
	}
}

type fakeNetErr struct{}

func (*fakeNetErr) Error() string   { return "read tcp: connection reset by peer" }
func (*fakeNetErr) Timeout() bool   { return false }
func (*fakeNetErr) Temporary() bool { return false }

func TestConnLifetime(t *testing.T) {
	tests := []struct {
		want, waitTimeout, got time.Duration
	}{
		{0, 8 * time.Hour, 30 * time.Minute},
		{0, 10 * time.Minute, 5 * time.Minute},
		{time.Minute, 10 * time.Minute, time.Minute},
		{time.Hour, 10 * time.Minute, 5 * time.Minute},
		{0, 0, time.Minute},
		{10 * time.Second, 0, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.want, "/", tt.waitTimeout), func(t *testing.T) {
			if got := connLifetime(tt.want, tt.waitTimeout); got != tt.got {
				t.Errorf("connLifetime(%v, %v) = %v, want %v", tt.want, tt.waitTimeout, got, tt.got)
			}
		})
	}
}

// A broken connection reported after the deadline passed is a timeout; the
// same error with time left is "unavailable". Other kinds are left alone.
func TestFailureAfterDeadline(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		kind string
	}{
		{"bad connection, time left", live, fmt.Errorf("begin: %w", driver.ErrBadConn), dbapi.EUNAVAILABLE},
		{"bad connection, deadline passed", done, fmt.Errorf("begin: %w", driver.ErrBadConn), dbapi.ETIMEOUT},
		{"invalid connection, deadline passed", done, mysql.ErrInvalidConn, dbapi.ETIMEOUT},
		{"network error, deadline passed", done, &fakeNetErr{}, dbapi.ETIMEOUT},
		{"too many connections, deadline passed", done, &mysql.MySQLError{Number: 1040}, dbapi.ETIMEOUT},
		{"deadlock, deadline passed", done, &mysql.MySQLError{Number: 1213}, dbapi.ECONFLICT},
		{"context error", done, context.DeadlineExceeded, dbapi.ETIMEOUT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := failure(tt.ctx, tt.err); got.Kind != tt.kind {
				t.Errorf("kind %s, want %s", got.Kind, tt.kind)
			}
		})
	}
}
