package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/rowjson"
	"github.com/go-sql-driver/mysql"
)

// Columns is what the database says about a declared operation's result,
// as Check reads it.
type Columns struct {
	// Row is the JSON Schema of one row (rowjson.RowSchema): the real
	// column types and nullability. Nil when they could not be known.
	Row json.RawMessage
	// Unknown says why the column types could not be known; empty when
	// Row is set.
	Unknown string
	// Detail is the database's reason, for the logs (never for clients).
	Detail string
}

// probeTimeout bounds the statement that reads a result's column types.
const probeTimeout = 2 * time.Second

// readColumns reads the column types of d's result by running its last
// statement, with the parameters at their defaults (or minimum, or a zero
// value of their type), in a transaction that is rolled back: the server
// describes a result set only when it runs (go-sql-driver/mysql does not
// keep what a PREPARE returns). Only a SELECT (or WITH, VALUES, TABLE)
// without INTO is run, with a time limit of probeTimeout and no rows
// beyond its own LIMIT (setProbeLimits), so nothing is written and the
// probe stays short; the rows are not read.
func readColumns(ctx context.Context, conn *sql.Conn, d *Definition) *Columns {
	if d.Result == ResultExec {
		return nil
	}
	st := d.Statements[len(d.Statements)-1]
	if !returnsRows(st) {
		return &Columns{Unknown: "the last statement is not a SELECT, so its columns are known only when it runs"}
	}
	ctx, cancel := context.WithTimeout(ctx, 4*probeTimeout)
	defer cancel()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return &Columns{Unknown: "the database could not be asked", Detail: err.Error()}
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, st.SQL, st.args(d.probeValues())...)
	if err != nil {
		detail := err.Error()
		var me *mysql.MySQLError
		if errors.As(err, &me) {
			detail = me.Message
		}
		return &Columns{Unknown: "the statement could not be run with sample values to read its columns", Detail: detail}
	}
	types, err := rows.ColumnTypes()
	if err == nil {
		var row json.RawMessage
		if row, err = rowjson.RowSchema(types, d.JSON); err == nil {
			rows.Close()
			return &Columns{Row: row}
		}
	}
	rows.Close()
	return &Columns{Unknown: "the result's columns cannot be encoded as they are", Detail: err.Error()}
}

// probeValues returns a value of each parameter that the operation would
// accept: its default, else its minimum, else a zero value of its type.
func (d *Definition) probeValues() map[string]any {
	vals := make(map[string]any, len(d.Params))
	for i := range d.Params {
		p := &d.Params[i]
		if p.Default != nil {
			vals[p.Name] = p.def
			continue
		}
		var candidates []string
		if p.Min != nil {
			candidates = append(candidates, p.Min.String(), `"`+p.Min.String()+`"`)
		}
		if p.Max != nil {
			candidates = append(candidates, p.Max.String(), `"`+p.Max.String()+`"`)
		}
		candidates = append(candidates, map[Kind][]string{
			KindInt:     {"0"},
			KindDecimal: {`"0"`},
			KindString:  {`""`},
			KindBool:    {"false"},
			KindTime:    {`"1970-01-01T00:00:00Z"`},
			KindDate:    {`"1970-01-01"`},
			KindBytes:   {`""`},
			KindJSON:    {"{}"},
		}[p.Kind]...)
		vals[p.Name] = nil
		for _, c := range candidates {
			if v, err := p.decode(json.RawMessage(c)); err == nil {
				vals[p.Name] = v
				break
			}
		}
	}
	return vals
}

// setProbeLimits bounds the statements of the check's session (a
// connection that is discarded afterwards): MariaDB's max_statement_time,
// MySQL's max_execution_time (SELECTs only), the wait for a row lock, and
// the rows a SELECT without a LIMIT of its own returns (none: only the
// columns are wanted). The server that does not know one of them refuses
// it; that is ignored.
func setProbeLimits(ctx context.Context, conn *sql.Conn) {
	secs := probeTimeout.Seconds()
	for _, q := range []string{
		"SET SESSION sql_select_limit = 0",
		fmt.Sprintf("SET SESSION max_statement_time = %g", secs),
		fmt.Sprintf("SET SESSION max_execution_time = %d", probeTimeout.Milliseconds()),
		fmt.Sprintf("SET SESSION innodb_lock_wait_timeout = %d", max(1, int(secs))),
	} {
		conn.ExecContext(ctx, q)
	}
}

// ResultSchema returns the JSON Schema of the operation's reply: from the
// database's column types once Check read them (Columns), else the
// general shape of its result kind, saying why the columns are unknown.
func (d *Definition) ResultSchema() json.RawMessage {
	kind := dbapi.ResultKind(d.Result)
	if d.Result == ResultExec {
		return kind.Schema()
	}
	c := d.Columns
	if c != nil && c.Row != nil {
		if d.Result == ResultOne {
			return c.Row
		}
		return json.RawMessage(`{"type":"array","items":` + string(c.Row) + `}`)
	}
	why := "the database was not asked (the columns are read by dbapi check, serve, and describe when it reaches the database)"
	if c != nil {
		why = c.Unknown
	}
	var s map[string]any
	if err := json.Unmarshal(kind.Schema(), &s); err != nil {
		panic(fmt.Sprintf("catalog: the schema of result %s: %v", kind, err))
	}
	s["description"] = "Column types unknown: " + strings.TrimSuffix(why, ".") + "."
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("catalog: the schema of result %s: %v", kind, err))
	}
	return b
}
