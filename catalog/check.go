package catalog

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"
)

// Check prepares every statement of defs on one connection of db, inside a
// transaction that is rolled back, and returns a *Error ("file:line: the
// server's reason") for each statement the server refuses: syntax errors,
// unknown tables and columns, missing privileges. Nothing is executed.
//
// What preparing cannot see: a statement that uses a table an earlier
// statement of the same operation creates (a temporary table, say); a
// statement the server cannot prepare at all; values that break a
// constraint or do not fit a column; whether a "result: one" query can
// match several rows. The error is for a failure to reach the database.
func Check(ctx context.Context, db *sql.DB, defs []*Definition) ([]error, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	// The connection is discarded afterwards rather than pooled, so that
	// nothing of the check's session (prepared statements, their
	// counters) is left to the requests.
	defer func() {
		conn.Raw(func(any) error { return driver.ErrBadConn })
		conn.Close()
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	defer tx.Rollback()
	var problems []error
	for _, d := range defs {
		for _, st := range d.Statements {
			stmt, err := tx.PrepareContext(ctx, st.SQL)
			if err != nil {
				var me *mysql.MySQLError
				if !errors.As(err, &me) {
					return problems, fmt.Errorf("check %s:%d: %w", d.File, st.Line, err)
				}
				problems = append(problems, &Error{File: d.File, Line: st.Line, Msg: me.Message})
				continue
			}
			stmt.Close()
		}
	}
	return problems, nil
}
