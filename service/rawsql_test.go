package service

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestRawSQL(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.AllowRawSQL, cfg.MaxRows = true, 3
	e.start(cfg)

	tests := []struct {
		name   string
		op     string
		params map[string]any
		status int
		code   string
		want   string // exact success body
	}{
		{"insert", "sql.exec", map[string]any{"sql": "INSERT INTO accounts (owner, balance) VALUES (?, ?), (?, ?)", "args": []any{"ann", "1.50", "bob", 2}}, 0, "", `{"rows_affected":2,"last_insert_id":1}`},
		{"query with args", "sql.query", map[string]any{"sql": "SELECT id, owner, balance FROM accounts WHERE owner = ? ORDER BY id", "args": []any{"bob"}}, 0, "", `[{"id":2,"owner":"bob","balance":"2.00"}]`},
		{"injection stays a value", "sql.query", map[string]any{"sql": "SELECT COUNT(*) AS n FROM accounts WHERE owner = ?", "args": []any{"x' OR '1'='1"}}, 0, "", `[{"n":0}]`},
		{"json argument", "sql.query", map[string]any{"sql": "SELECT JSON_EXTRACT(?, '$.a') AS a", "args": []any{map[string]any{"a": 5}}}, 0, "", `[{"a":"5"}]`},
		{"syntax error", "sql.query", map[string]any{"sql": "SELEKT 1"}, 400, "bad_statement", ""},
		{"unknown table", "sql.query", map[string]any{"sql": "SELECT * FROM nosuch"}, 400, "bad_statement", ""},
		{"too few arguments", "sql.exec", map[string]any{"sql": "UPDATE accounts SET owner = ? WHERE id = ?", "args": []any{"x"}}, 400, "bad_statement", ""},
		{"no statement", "sql.exec", map[string]any{"args": []any{}}, 400, "missing_param", ""},
		{"args not an array", "sql.exec", map[string]any{"sql": "DO 1", "args": "x"}, 400, "bad_param", ""},
		{"too many rows", "sql.query", map[string]any{"sql": "SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4"}, 413, "result_too_large", ""},
		{"reply over the NATS max_payload", "sql.query", map[string]any{"sql": "SELECT REPEAT('x', ?) AS big", "args": []any{int64(e.nc.MaxPayload()) + 1}}, 413, "result_too_large", ""},
		{"check constraint", "sql.exec", map[string]any{"sql": "UPDATE accounts SET balance = -1 WHERE id = 1"}, 400, "check_violation", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(tt.op, tt.params)
			if r.err != nil || r.status != tt.status || r.code != tt.code {
				t.Fatalf("got %v; want %d %s", r, tt.status, tt.code)
			}
			if tt.want != "" && string(r.body) != tt.want {
				t.Errorf("body %s, want %s", r.body, tt.want)
			}
		})
	}
}

func TestRawSQLIsOffByDefault(t *testing.T) {
	e := newEnv(t)
	e.start(e.config())
	r := e.call("sql.query", map[string]any{"sql": "SELECT 1"})
	if !errors.Is(r.err, nats.ErrNoResponders) {
		t.Fatalf("sql.query with raw SQL off: %v; want no responders", r)
	}
}
