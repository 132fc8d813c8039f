package catalog

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// Check asks the database about every operation of defs, on one connection
// of db that is discarded afterwards, and returns a *Error ("file:line:
// reason") for each problem:
//
//   - it prepares every statement inside a transaction that is rolled
//     back: the server refuses syntax errors, unknown tables and columns,
//     missing privileges;
//   - it looks up every constraint an "-- error:" line maps, in
//     information_schema (TABLE_CONSTRAINTS and, for unique keys,
//     STATISTICS) of the connection's database: a name the user can see
//     on no table is a problem;
//   - it reads the result's column types of each operation that returns
//     rows into its Columns (see readColumns), for ResultSchema; an
//     operation whose types cannot be known is no problem, its Columns
//     says why.
//
// What it cannot see: a statement that uses a table an earlier statement
// of the same operation creates (a temporary table, say); a statement the
// server cannot prepare at all; values that break a constraint or do not
// fit a column; whether a "result: one" query can match several rows. The
// error is for a failure to reach the database.
func Check(ctx context.Context, db *sql.DB, defs []*Definition) ([]error, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	// The connection is discarded afterwards rather than pooled, so that
	// nothing of the check's session (prepared statements, their
	// counters, the time limits of the column probes) is left to the
	// requests.
	defer func() {
		conn.Raw(func(any) error { return driver.ErrBadConn })
		conn.Close()
	}()
	syncCluster(ctx, conn)
	problems, err := prepareAll(ctx, conn, defs)
	if err != nil {
		return problems, err
	}
	more, err := checkConstraints(ctx, conn, defs)
	problems = append(problems, more...)
	if err != nil {
		return problems, err
	}
	setProbeLimits(ctx, conn)
	for _, d := range defs {
		d.Columns = readColumns(ctx, conn, d)
	}
	return problems, nil
}

// syncCluster makes a Galera node (wsrep_on) apply every commit the
// cluster has made before the check reads anything: behind a round-robin
// proxy the migrations may have just run through another node, whose
// CREATE TABLE this one has not applied yet. A causal read
// (wsrep_sync_wait) waits for it. Elsewhere it does nothing.
func syncCluster(ctx context.Context, conn *sql.Conn) {
	var on sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT @@wsrep_on").Scan(&on); err != nil || (on.String != "1" && on.String != "ON") {
		return // not a Galera node (MySQL has no such variable)
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION wsrep_sync_wait = 1"); err == nil {
		conn.ExecContext(ctx, "SELECT 1")
	}
}

// prepareAll prepares every statement in a transaction that is rolled
// back.
func prepareAll(ctx context.Context, conn *sql.Conn, defs []*Definition) ([]error, error) {
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

// checkConstraints reports every "-- error:" line whose constraint is not
// in the database: no CHECK, UNIQUE, PRIMARY KEY or FOREIGN KEY of that
// name (names compared in any case, as the server does) on the tables the
// user may see.
func checkConstraints(ctx context.Context, conn *sql.Conn, defs []*Definition) ([]error, error) {
	mapped := false
	for _, d := range defs {
		mapped = mapped || len(d.Errors) > 0
	}
	if !mapped {
		return nil, nil
	}
	rows, err := conn.QueryContext(ctx, `
		SELECT CONSTRAINT_NAME FROM information_schema.TABLE_CONSTRAINTS WHERE TABLE_SCHEMA = DATABASE()
		UNION
		SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND NON_UNIQUE = 0`)
	if err != nil {
		return nil, fmt.Errorf("check: read the constraints: %w", err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("check: read the constraints: %w", err)
		}
		have[strings.ToLower(name)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check: read the constraints: %w", err)
	}
	var db string
	if err := conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&db); err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	var problems []error
	for _, d := range defs {
		for _, e := range d.Errors {
			if !have[strings.ToLower(e.Constraint)] {
				problems = append(problems, &Error{File: d.File, Line: e.Line, Msg: fmt.Sprintf(
					"error: database %s has no constraint %q (no CHECK, UNIQUE, PRIMARY KEY or FOREIGN KEY of that name in information_schema, on the tables this user may see)",
					db, e.Constraint)})
			}
		}
	}
	return problems, nil
}
