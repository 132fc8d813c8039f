package txrunner_test

import (
	"context"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// RunStatement runs its statement in autocommit mode, outside any
// transaction, where Run runs one inside a transaction.
func TestRunStatementAutocommit(t *testing.T) {
	db, _ := setup(t, nil)
	r := quietRunner(db, txrunner.Config{})
	ctx := testContext(t)
	var in int
	if err := r.RunStatement(ctx, txrunner.Options{ReadOnly: true}, func(ctx context.Context, q sqlx.ExtContext) error {
		return sqlx.GetContext(ctx, q, &in, "SELECT @@in_transaction")
	}); err != nil || in != 0 {
		t.Errorf("RunStatement: @@in_transaction %d, err %v; want 0, nil", in, err)
	}
	if err := r.Run(ctx, txrunner.Options{ReadOnly: true}, func(ctx context.Context, tx *sqlx.Tx) error {
		return tx.GetContext(ctx, &in, "SELECT @@in_transaction")
	}); err != nil || in != 1 {
		t.Errorf("Run: @@in_transaction %d, err %v; want 1, nil", in, err)
	}
}

// Errors: a retryable one runs the statement again (and tells OnRetry), any
// other ends the call at once as a *dbapi.Error, a panic becomes an
// internal error, and a deadline already passed runs nothing.
func TestRunStatementErrors(t *testing.T) {
	db, _ := setup(t, nil)
	var retries []string
	r := quietRunner(db, txrunner.Config{MaxAttempts: 3, OnRetry: func(c string) { retries = append(retries, c) }})
	ctx := testContext(t)
	for _, c := range []struct {
		name       string
		fn         func(attempt int, ctx context.Context, q sqlx.ExtContext) error
		ctx        context.Context
		kind, code string
		attempts   int
		retries    int
	}{
		{"deadlock then success", func(attempt int, ctx context.Context, q sqlx.ExtContext) error {
			if attempt == 1 {
				return &mysql.MySQLError{Number: 1213, Message: "Deadlock found"}
			}
			_, err := q.ExecContext(ctx, "SELECT 1")
			return err
		}, ctx, "", "", 2, 1},
		{"deadlock every time", func(int, context.Context, sqlx.ExtContext) error {
			return &mysql.MySQLError{Number: 1213, Message: "Deadlock found"}
		}, ctx, dbapi.ECONFLICT, "deadlock", 3, 2},
		{"missing table", func(_ int, ctx context.Context, q sqlx.ExtContext) error {
			_, err := q.QueryContext(ctx, "SELECT * FROM no_such_table")
			return err
		}, ctx, dbapi.EINTERNAL, "internal", 1, 0},
		{"operation error", func(int, context.Context, sqlx.ExtContext) error {
			return dbapi.Errorf(dbapi.ENOTFOUND, "no such row")
		}, ctx, dbapi.ENOTFOUND, "not_found", 1, 0},
		{"panic", func(int, context.Context, sqlx.ExtContext) error { panic("boom") }, ctx, dbapi.EINTERNAL, "internal", 1, 0},
		{"deadline passed", func(int, context.Context, sqlx.ExtContext) error { return nil },
			func() context.Context {
				c, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
				t.Cleanup(cancel)
				return c
			}(), dbapi.ETIMEOUT, "timeout", 0, 0},
	} {
		retries = nil
		attempts := 0
		err := r.RunStatement(c.ctx, txrunner.Options{}, func(ctx context.Context, q sqlx.ExtContext) error {
			attempts++
			return c.fn(attempts, ctx, q)
		})
		switch {
		case c.kind == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.kind != "":
			if de := asDBAPI(t, err); de.Kind != c.kind || de.ErrorCode() != c.code {
				t.Errorf("%s: %s %s, want %s %s", c.name, de.Kind, de.ErrorCode(), c.kind, c.code)
			}
		}
		if attempts != c.attempts || len(retries) != c.retries {
			t.Errorf("%s: %d attempts and retries %v, want %d and %d", c.name, attempts, retries, c.attempts, c.retries)
		}
	}
}
