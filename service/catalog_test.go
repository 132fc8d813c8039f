package service

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// The declared operations of schema/operations are served next to the Go
// ones: accounts.get and accounts.list read what accounts.open wrote.
func TestDeclaredOperations(t *testing.T) {
	e := newEnv(t)
	e.start(e.config())
	ids := e.openAccounts(3, "12.50")

	r := e.call("accounts.get", map[string]any{"id": ids[1]})
	var a struct {
		ID        uint64 `json:"id"`
		Owner     string `json:"owner"`
		Balance   string `json:"balance"`
		CreatedAt string `json:"created_at"`
	}
	if r.status != 0 || json.Unmarshal(r.body, &a) != nil {
		t.Fatalf("accounts.get: %v", r)
	}
	if a.ID != ids[1] || a.Owner != "owner1" || a.Balance != "12.50" {
		t.Errorf("accounts.get: got %s", r.body)
	}
	if _, err := time.Parse(time.RFC3339, a.CreatedAt); err != nil || !strings.HasSuffix(a.CreatedAt, "Z") {
		t.Errorf("created_at %q: want RFC 3339 in UTC (%v)", a.CreatedAt, err)
	}
	if r := e.call("accounts.get", map[string]any{"id": 999999}); r.status != 404 || r.code != "not_found" {
		t.Errorf("unknown account: %v", r)
	}

	r = e.call("accounts.list", map[string]any{"after": ids[0], "limit": 5})
	var list []struct{ ID uint64 }
	if r.status != 0 || json.Unmarshal(r.body, &list) != nil || len(list) != 2 || list[0].ID != ids[1] || list[1].ID != ids[2] {
		t.Errorf("accounts.list after the first: %v", r)
	}
	if r := e.call("accounts.list", map[string]any{"limit": 1001}); r.status != 400 || r.code != "bad_param" {
		t.Errorf("limit over 1000: %v", r)
	}
}

// DBAPI_OPERATIONS_DIR replaces the embedded operations with a folder's,
// and DBAPI_MAX_ROWS caps their results.
func TestOperationsDir(t *testing.T) {
	dir := t.TempDir()
	writeOp(t, dir, "count.sql", `-- name: test.count
-- description: Count accounts.
-- result: one
-- read-only: true
SELECT COUNT(*) AS n FROM accounts`)
	writeOp(t, dir, "seq.sql", `-- name: test.seq
-- param: n int
-- result: many
SELECT seq FROM seq_1_to_100 WHERE seq <= :n`)
	e := newEnv(t)
	cfg := e.config()
	cfg.OperationsDir, cfg.MaxRows = dir, 3
	e.start(cfg)
	e.openAccounts(2, "1.00")
	if r := e.call("test.count", map[string]any{}); r.status != 0 || string(r.body) != `{"n":2}` {
		t.Errorf("test.count: %v", r)
	}
	if r := e.call("test.seq", map[string]int{"n": 3}); r.status != 0 || string(r.body) != `[{"seq":1},{"seq":2},{"seq":3}]` {
		t.Errorf("test.seq 3: %v", r)
	}
	if r := e.call("test.seq", map[string]int{"n": 4}); r.status != 413 || r.code != "result_too_large" {
		t.Errorf("test.seq 4 with DBAPI_MAX_ROWS=3: %v", r)
	}
	// The embedded operations are not loaded.
	if r := e.call("accounts.get", map[string]int{"id": 1}); r.err == nil {
		t.Errorf("accounts.get is served though DBAPI_OPERATIONS_DIR replaces it: %v", r)
	}
}

// A broken operation file, a missing folder, or a declared operation with
// the name of a Go one stops the start with an error that says where.
func TestOperationsDirErrors(t *testing.T) {
	bad := t.TempDir()
	writeOp(t, bad, "broken.sql", "-- name: test.broken\n-- result: one\n-- param: id int\nSELECT :idd")
	dup := t.TempDir()
	writeOp(t, dup, "open.sql", "-- name: accounts.open\n-- result: one\nSELECT 1")
	for _, tt := range []struct{ dir, want string }{
		{bad, "broken.sql:4: parameter :idd is not declared"},
		{filepath.Join(bad, "nosuch"), "DBAPI_OPERATIONS_DIR"},
		{dup, `open.sql:1: operation "accounts.open" is also a Go operation of bank`},
	} {
		cfg := Config{OperationsDir: tt.dir, MySQLDSN: "root@tcp(127.0.0.1:1)/none", LogLevel: "error"}
		m := NewMain(cfg, bankApp())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := m.Run(ctx)
		cancel()
		m.Close()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.dir, err, tt.want)
		}
	}
}

func writeOp(t *testing.T, dir, name, src string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
		t.Fatal(fmt.Errorf("write %s: %w", name, err))
	}
}

// A declared operation that is one SELECT runs in autocommit mode (no
// BEGIN, no COMMIT); with an Idempotency-Key, or with two statements, it
// runs in a transaction. @@in_transaction tells which.
func TestSingleSelectRunsWithoutTransaction(t *testing.T) {
	dir := t.TempDir()
	writeOp(t, dir, "one.sql", `-- name: test.one
-- result: one
-- read-only: true
SELECT @@in_transaction AS t`)
	writeOp(t, dir, "two.sql", `-- name: test.two
-- result: one
-- read-only: true
SELECT 1;
SELECT @@in_transaction AS t`)
	writeOp(t, dir, "writable.sql", `-- name: test.writable
-- result: one
SELECT @@in_transaction AS t`)
	e := newEnv(t)
	cfg := e.config()
	cfg.OperationsDir = dir
	e.start(cfg)
	e.openAccounts(1, "1.00")
	for _, c := range []struct {
		op     string
		header nats.Header
		want   string
	}{
		{"test.one", nil, `{"t":0}`},
		{"test.one", keyed("single-select-1"), `{"t":1}`},
		{"test.two", nil, `{"t":1}`},
		{"test.writable", nil, `{"t":1}`},
	} {
		r := call(e.nc, e.prefix+"."+c.op, []byte(`{}`), c.header, 30*time.Second)
		if r.status != 0 || r.err != nil || string(r.body) != c.want {
			t.Errorf("%s (header %v): %v, want %s", c.op, c.header, r, c.want)
		}
	}
	// In a batch it is a step of the batch's transaction.
	r := call(e.nc, e.prefix+".batch", []byte(`{"ops":[{"op":"test.one","params":{}}]}`), nil, 30*time.Second)
	if r.status != 0 || r.err != nil || !strings.Contains(string(r.body), `{"t":1}`) {
		t.Errorf("batch of test.one: %v", r)
	}
}
