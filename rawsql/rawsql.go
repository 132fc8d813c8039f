package rawsql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/rowjson"
	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// Operations returns sql.exec and sql.query. Results of sql.query are
// capped at maxRows rows (413 result_too_large beyond; 0 means no cap).
func Operations(maxRows int) []dbapi.Operation {
	return []dbapi.Operation{
		{
			Name: "sql.exec", Description: "Run one SQL statement with ? placeholders; returns rows affected and last insert id.", Run: Exec,
			Params: ParamsSchema, Result: dbapi.ResultExec,
		},
		{
			Name: "sql.query", Description: "Run one SQL query with ? placeholders; returns the rows.", Run: func(ctx context.Context, tx *sqlx.Tx, params json.RawMessage) (any, error) {
				return query(ctx, tx, params, maxRows)
			},
			Params: ParamsSchema, Result: dbapi.ResultMany,
		},
	}
}

// ParamsSchema is the JSON Schema of the request body of sql.exec and
// sql.query (see request and Args).
var ParamsSchema = json.RawMessage(`{"type":"object","properties":{` +
	`"sql":{"type":"string","pattern":"\\S","description":"one SQL statement with ? placeholders"},` +
	`"args":{"type":["array","null"],"description":"the values of the placeholders, in order; objects and arrays are bound as JSON text"},` +
	`"json":{"type":"array","items":{"type":"string"},"description":"sql.query: result columns holding JSON documents, embedded as JSON"}},` +
	`"required":["sql"],"additionalProperties":false}`)

type request struct {
	SQL  string          `json:"sql"`
	Args json.RawMessage `json:"args"`
	// JSON names result columns that hold JSON documents (sql.query).
	JSON []string `json:"json"`
}

// decode reads the request and converts its arguments.
func decode(params json.RawMessage) (request, []any, error) {
	var r request
	if err := dbapi.DecodeParams(params, &r); err != nil {
		return r, nil, err
	}
	if strings.TrimSpace(r.SQL) == "" {
		return r, nil, dbapi.Required("sql", "one SQL statement with ? placeholders")
	}
	args, err := Args(r.Args)
	return r, args, err
}

// Args converts a JSON array into driver arguments: integers become
// int64 (or uint64), other numbers stay exact as decimal strings (MySQL
// converts them), strings, booleans and null map directly, and objects or
// arrays are passed as JSON text.
func Args(raw json.RawMessage) ([]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var vals []any
	if err := dec.Decode(&vals); err != nil {
		return nil, dbapi.CodeErrorf(dbapi.EINVALID, "bad_param", `parameter "args": want an array of values`)
	}
	args := make([]any, len(vals))
	for i, v := range vals {
		switch t := v.(type) {
		case json.Number:
			if n, err := strconv.ParseInt(string(t), 10, 64); err == nil {
				args[i] = n
			} else if u, err := strconv.ParseUint(string(t), 10, 64); err == nil {
				args[i] = u
			} else {
				args[i] = string(t)
			}
		case map[string]any, []any:
			b, _ := json.Marshal(t)
			args[i] = string(b)
		default:
			args[i] = t
		}
	}
	return args, nil
}

// Exec runs {"sql":"UPDATE ...","args":[...]}.
func Exec(ctx context.Context, tx *sqlx.Tx, params json.RawMessage) (any, error) {
	r, args, err := decode(params)
	if err != nil {
		return nil, err
	}
	res, err := tx.ExecContext(ctx, r.SQL, args...)
	if err != nil {
		return nil, statementError(err)
	}
	affected, _ := res.RowsAffected()
	lastID, _ := res.LastInsertId()
	return struct {
		RowsAffected int64 `json:"rows_affected"`
		LastInsertID int64 `json:"last_insert_id"`
	}{affected, lastID}, nil
}

func query(ctx context.Context, tx *sqlx.Tx, params json.RawMessage, maxRows int) (any, error) {
	r, args, err := decode(params)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, r.SQL, args...)
	if err != nil {
		return nil, statementError(err)
	}
	out, err := rowjson.Rows(rows, rowjson.Options{MaxRows: maxRows, JSON: r.JSON})
	if err != nil {
		return nil, statementError(err)
	}
	return out, nil
}

// statementError turns the errors a client's own SQL can cause into 400s
// with fixed messages (the server's text may quote data and is not sent).
// Anything else goes to the shared mapping in txrunner.
func statementError(err error) error {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		if strings.HasPrefix(err.Error(), "sql: expected ") { // database/sql's argument count check
			return &dbapi.Error{Kind: dbapi.EINVALID, Code: "bad_statement", Message: "the statement's placeholders do not match its arguments", Err: err}
		}
		return err
	}
	msg := ""
	switch me.Number {
	case 1064, 1149:
		msg = "the statement has a syntax error"
	case 1146:
		msg = "the statement names a table that does not exist"
	case 1054:
		msg = "the statement names a column that does not exist"
	case 1210, 1105:
		msg = "the statement's placeholders do not match its arguments"
	case 1142, 1143, 1044, 1045:
		msg = "the service's database user may not run this statement"
	case 1792:
		msg = "the statement writes in a read-only transaction"
	default:
		return err
	}
	return &dbapi.Error{Kind: dbapi.EINVALID, Code: "bad_statement", Message: msg, Err: err}
}
