package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/rowjson"
	"github.com/jmoiron/sqlx"
)

// DefaultMaxRows caps a many result when neither Config nor the file says
// otherwise.
const DefaultMaxRows = 1000

// Config holds settings shared by every operation of a catalog.
type Config struct {
	// MaxRows caps the rows of a many result; zero means DefaultMaxRows.
	MaxRows int
}

// Load parses every *.sql file at the top of fsys, in name order, and
// returns their operations. A problem is an *Error whose text is
// "file:line: reason"; every file is read, and the error joins (errors.Join)
// the problems of all of them. Two files declaring the same name are an
// error that names both.
func Load(fsys fs.FS, cfg Config) ([]dbapi.Operation, error) {
	defs, err := LoadDefinitions(fsys)
	if err != nil {
		return nil, err
	}
	return Operations(defs, cfg), nil
}

// Operations returns the operations defs declare.
func Operations(defs []*Definition, cfg Config) []dbapi.Operation {
	ops := make([]dbapi.Operation, len(defs))
	for i, d := range defs {
		ops[i] = d.Operation(cfg)
	}
	return ops
}

// LoadDefinitions is Load without building the operations. With an error,
// it also returns the definitions of the files that had no problem, so
// that a check can go on with them.
func LoadDefinitions(fsys fs.FS) ([]*Definition, error) {
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var (
		defs   []*Definition
		errs   []error
		byName = map[string]*Definition{}
	)
	for _, f := range files {
		src, err := fs.ReadFile(fsys, f)
		if err != nil {
			errs = append(errs, &Error{File: f, Msg: err.Error()})
			continue
		}
		d, err := Parse(f, src)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if other, dup := byName[d.Name]; dup {
			errs = append(errs, &Error{File: f, Line: d.Line,
				Msg: fmt.Sprintf("operation %q is also declared at %s:%d", d.Name, other.File, other.Line)})
			continue
		}
		byName[d.Name] = d
		defs = append(defs, d)
	}
	return defs, errors.Join(errs...)
}

func noop(context.Context, *sqlx.Tx, json.RawMessage) (any, error) { return nil, nil }

// Operation returns the operation d declares.
func (d *Definition) Operation(cfg Config) dbapi.Operation {
	maxRows := d.MaxRows
	if maxRows <= 0 {
		maxRows = cfg.MaxRows
	}
	if maxRows <= 0 {
		maxRows = DefaultMaxRows
	}
	// The result's columns are worked out once and reused while they stay
	// the same.
	cache := new(rowjson.Cache)
	op := dbapi.Operation{
		Name:        d.Name,
		Description: d.Description,
		ReadOnly:    d.ReadOnly,
		Coalesce:    d.Coalesce,
		Isolation:   d.Isolation,
		Timeout:     d.Timeout,
		Params:      d.ParamsSchema(),
		Result:      dbapi.ResultKind(d.Result),
		// From the database's column types once Check read them.
		ResultSchema: d.ResultSchema(),
		Errors:       d.operationErrors(),
		Run: func(ctx context.Context, tx *sqlx.Tx, params json.RawMessage) (any, error) {
			return d.run(ctx, tx, params, maxRows, cache)
		},
	}
	if d.singleSelect() {
		op.Statement = func(ctx context.Context, q sqlx.ExtContext, params json.RawMessage) (any, error) {
			return d.run(ctx, q, params, maxRows, cache)
		}
	}
	return op
}

// lockingRE finds what makes a SELECT lock rows or write (INTO OUTFILE,
// INTO @var), word by word, case-insensitively.
var lockingRE = regexp.MustCompile(`(?i)\b(for\s+update|for\s+share|lock\s+in\s+share\s+mode|into)\b`)

// singleSelect reports whether d is one plain SELECT in a read-only
// transaction at the default isolation level: run alone in autocommit
// mode, it is the same transaction without BEGIN and COMMIT.
func (d *Definition) singleSelect() bool {
	if !d.ReadOnly || d.Isolation != sql.LevelDefault || len(d.Statements) != 1 || d.Result == ResultExec {
		return false
	}
	q := strings.TrimSpace(d.Statements[0].SQL)
	return len(q) > 6 && strings.EqualFold(q[:6], "select") && !lockingRE.MatchString(q)
}

// run decodes the parameters, runs the statements on q (a transaction, or
// the pool for a single SELECT), and returns the last one's result as JSON.
// The first statement whose "-- rows:" rule breaks, or whose error names a
// constraint the file maps with "-- error:", ends the run with the
// operation's own error (and the transaction rolls back).
func (d *Definition) run(ctx context.Context, q sqlx.ExtContext, params json.RawMessage, maxRows int, cache *rowjson.Cache) (json.RawMessage, error) {
	vals, err := d.DecodeParams(params)
	if err != nil {
		return nil, err
	}
	last := len(d.Statements) - 1
	for i := range d.Statements[:last] {
		if err := d.runOne(ctx, q, &d.Statements[i], vals); err != nil {
			return nil, err
		}
	}
	st := &d.Statements[last]
	if d.Result == ResultExec {
		res, err := q.ExecContext(ctx, st.SQL, st.args(vals)...)
		if err != nil {
			return nil, d.statementError(st, err, vals)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, d.wrap(*st, err)
		}
		if st.Rows != nil && !st.Rows.holds(n) {
			return nil, d.failure(&st.Rows.Else, vals, nil)
		}
		if n == 0 && d.NotFoundIfNoRows {
			return nil, dbapi.CodeErrorf(dbapi.ENOTFOUND, "not_found", "%s", expand(d.NotFound, vals))
		}
		id, err := res.LastInsertId()
		if err != nil {
			return nil, d.wrap(*st, err)
		}
		return execResult(n, id), nil
	}
	rows, err := q.QueryContext(ctx, st.SQL, st.args(vals)...)
	if err != nil {
		return nil, d.statementError(st, err, vals)
	}
	opts := rowjson.Options{JSON: d.JSON, Cache: cache}
	var out json.RawMessage
	if d.Result == ResultOne {
		out, err = rowjson.One(rows, opts)
		switch {
		case st.Rows != nil && (errors.Is(err, sql.ErrNoRows) || errors.Is(err, rowjson.ErrMultipleRows)):
			return nil, d.failure(&st.Rows.Else, vals, nil)
		case errors.Is(err, sql.ErrNoRows):
			return nil, dbapi.CodeErrorf(dbapi.ENOTFOUND, "not_found", "%s", expand(d.NotFound, vals))
		case errors.Is(err, rowjson.ErrMultipleRows):
			return nil, &dbapi.Error{Kind: dbapi.ECONFLICT, Code: "multiple_rows", Err: d.wrap(*st, err),
				Message: fmt.Sprintf("%s is declared to return one row, but the parameters match more than one", d.Name)}
		}
	} else {
		var n int
		opts.MaxRows, opts.Count = maxRows, &n
		out, err = rowjson.Rows(rows, opts)
		if err == nil && st.Rows != nil && !st.Rows.holds(int64(n)) {
			return nil, d.failure(&st.Rows.Else, vals, nil)
		}
	}
	if err != nil {
		return nil, d.statementError(st, err, vals)
	}
	return out, nil
}

// runOne runs a statement before the last, and checks its "-- rows:"
// rule: the rows a query returns, or the rows a write changed.
func (d *Definition) runOne(ctx context.Context, q sqlx.ExtContext, st *Statement, vals map[string]any) error {
	if st.Rows != nil && returnsRows(*st) {
		rows, err := q.QueryContext(ctx, st.SQL, st.args(vals)...)
		if err != nil {
			return d.statementError(st, err, vals)
		}
		var n int64
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return d.statementError(st, err, vals)
		}
		if err := rows.Close(); err != nil {
			return d.statementError(st, err, vals)
		}
		if !st.Rows.holds(n) {
			return d.failure(&st.Rows.Else, vals, nil)
		}
		return nil
	}
	res, err := q.ExecContext(ctx, st.SQL, st.args(vals)...)
	if err != nil {
		return d.statementError(st, err, vals)
	}
	if st.Rows == nil {
		return nil
	}
	n, err := res.RowsAffected()
	if err != nil {
		return d.wrap(*st, err)
	}
	if !st.Rows.holds(n) {
		return d.failure(&st.Rows.Else, vals, nil)
	}
	return nil
}

// statementError returns the operation's own error for a statement error
// that names a constraint the file maps, else the error with where the
// statement is declared.
func (d *Definition) statementError(st *Statement, err error, vals map[string]any) error {
	err = d.wrap(*st, err)
	if mapped := d.mapConstraint(err, vals); mapped != nil {
		return mapped
	}
	return err
}

// wrap adds where a statement is declared to an error, for the logs;
// errors.As still finds the driver's or dbapi's error inside.
func (d *Definition) wrap(st Statement, err error) error {
	var de *dbapi.Error
	if errors.As(err, &de) {
		return err
	}
	return fmt.Errorf("%s (%s:%d): %w", d.Name, d.File, st.Line, err)
}

// args returns the values bound to the statement's placeholders.
func (st Statement) args(vals map[string]any) []any {
	args := make([]any, len(st.Params))
	for i, name := range st.Params {
		args[i] = vals[name]
	}
	return args
}

// execResult encodes {"rows_affected":n,"last_insert_id":n}. The driver
// returns an AUTO_INCREMENT BIGINT UNSIGNED id above 2^63-1 as a negative
// int64; like rowjson, integers beyond 2^53 are strings.
func execResult(affected, id int64) json.RawMessage {
	out := []byte(`{"rows_affected":`)
	out = appendUint(out, uint64(affected))
	out = append(out, `,"last_insert_id":`...)
	out = appendUint(out, uint64(id))
	return append(out, '}')
}

func appendUint(dst []byte, v uint64) []byte {
	if v <= 1<<53 {
		return strconv.AppendUint(dst, v, 10)
	}
	dst = append(dst, '"')
	dst = strconv.AppendUint(dst, v, 10)
	return append(dst, '"')
}
