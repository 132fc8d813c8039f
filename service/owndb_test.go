package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/schema"
	"github.com/nats-io/nats.go"
)

// notesSchema writes a schema of the test's own, with no bank in it: a
// migration and two declared operations. It returns the migrations and
// operations folders.
func notesSchema(t *testing.T) (migrations, operations string) {
	t.Helper()
	migrations, operations = t.TempDir(), t.TempDir()
	writeOp(t, migrations, "00001_notes.sql", `-- +goose Up
CREATE TABLE notes (
    id   BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    body VARCHAR(200)    NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE notes;
`)
	writeOp(t, operations, "notes_add.sql", `-- name: notes.add
-- param: body string(200)
-- result: exec
INSERT INTO notes (body) VALUES (:body);
`)
	writeOp(t, operations, "notes_get.sql", `-- name: notes.get
-- param: id int
-- result: one
-- read-only: true
-- not-found: note :id does not exist
SELECT id, body FROM notes WHERE id = :id;
`)
	return migrations, operations
}

// startApp runs a service for app in process and closes it when the test
// ends.
func (e *env) startApp(cfg Config, app App) *Main {
	e.t.Helper()
	m := NewMain(cfg, app)
	m.Logger = testLogger()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		m.Close()
		e.t.Fatalf("start service: %v", err)
	}
	e.t.Cleanup(func() { m.Close() })
	return m
}

// dbapi, as cmd/dbapi builds it, serves a schema of the user's own: its
// migrations and declared operations, and nothing of the bank.
func TestOwnSchema(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.MigrationsDir, cfg.OperationsDir = notesSchema(t)
	e.startApp(cfg, App{Name: "dbapi"})

	if r := e.call("notes.add", map[string]string{"body": "hello"}); r.status != 0 || r.err != nil || string(r.body) != `{"rows_affected":1,"last_insert_id":1}` {
		t.Fatalf("notes.add: %v", r)
	}
	if r := e.call("notes.get", map[string]int{"id": 1}); r.status != 0 || string(r.body) != `{"id":1,"body":"hello"}` {
		t.Errorf("notes.get: %v", r)
	}
	if r := e.call("notes.get", map[string]int{"id": 2}); r.status != 404 || r.msg != "note 2 does not exist" {
		t.Errorf("notes.get 2: %v", r)
	}
	for _, op := range []string{"accounts.open", "accounts.transfer", "accounts.get", "accounts.list"} {
		if r := e.call(op, map[string]any{}); !errors.Is(r.err, nats.ErrNoResponders) {
			t.Errorf("%s: %v; want no responders", op, r)
		}
	}
	var tables []string
	if err := e.sqlx().Select(&tables, "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name", e.db.DBName); err != nil {
		t.Fatal(err)
	}
	want := []string{schema.AppVersionTable, "dbapi_durable_outcomes", "dbapi_idempotency_keys", schema.OwnVersionTable, "notes"}
	if strings.Join(tables, " ") != strings.Join(want, " ") {
		t.Errorf("tables = %v, want %v (no bank tables, no goose_db_version)", tables, want)
	}
}

// With no operations at all, the service says so at start.
func TestNoOperations(t *testing.T) {
	e := newEnv(t)
	m := NewMain(e.config(), App{Name: "dbapi"})
	m.Logger = testLogger()
	defer m.Close()
	err := m.Run(context.Background())
	if !errors.Is(err, errNoOperations) || !strings.Contains(err.Error(), "DBAPI_OPERATIONS_DIR") {
		t.Errorf("got %v, want %v", err, errNoOperations)
	}
}

// built is a program built once for the package's tests.
type built struct {
	once sync.Once
	path string
	err  error
}

var builds sync.Map // package path (from the module root) → *built

// binary builds the program at pkg, a path from the module root such as
// "cmd/dbapi", once for the package's tests, and returns its path.
func binary(t *testing.T, pkg string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(pkg, &built{})
	b := v.(*built)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "dbapi-test-bin")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, filepath.Base(pkg))
		if out, err := exec.Command("go", "build", "-o", b.path, "../"+pkg).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatalf("build %s: %v", pkg, b.err)
	}
	return b.path
}

// dbapi check and dbapi serve refuse broken operations, listing every
// problem as file:line: reason, with a non-zero exit status.
func TestCheckAndServeRefuseBrokenOperations(t *testing.T) {
	e := newEnv(t)
	migrations, ops := notesSchema(t)
	writeOp(t, ops, "a_column.sql", "-- name: notes.column\n-- param: id int\n-- result: one\nSELECT id, title FROM notes WHERE id = :id;\n")
	writeOp(t, ops, "b_syntax.sql", "-- name: notes.syntax\n-- result: exec\n\nDELETE notes WHERE;\n")
	writeOp(t, ops, "z_dup.sql", "-- description: the same name again\n-- name: notes.add\n-- result: exec\nDELETE FROM notes;\n")
	bin := binary(t, "cmd/dbapi")
	env := append(os.Environ(),
		"DBAPI_MYSQL_DSN="+e.db.FormatDSN(), "DBAPI_NATS_URL="+e.url, "DBAPI_PREFIX="+e.prefix,
		"DBAPI_MIGRATIONS_DIR="+migrations, "DBAPI_OPERATIONS_DIR="+ops, "DBAPI_CONNECT_TIMEOUT=0s")
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	// A duplicate name is found by reading the files alone.
	dup := `z_dup.sql:2: operation "notes.add" is also declared at notes_add.sql:1`
	out, err := run("check")
	t.Logf("dbapi check:\n%s", out)
	if err == nil {
		t.Error("check exited 0")
	}
	for _, want := range []string{dup, "a_column.sql:4: Unknown column 'title'", "b_syntax.sql:4: You have an error in your SQL syntax"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q", want)
		}
	}
	// Without the duplicate, serve stops at start naming the statements the
	// database refuses.
	os.Remove(filepath.Join(ops, "z_dup.sql"))
	out, err = run("serve")
	t.Logf("dbapi serve:\n%s", out)
	if err == nil {
		t.Error("serve exited 0")
	}
	for _, want := range []string{"a_column.sql:4: Unknown column 'title'", "b_syntax.sql:4: You have an error in your SQL syntax"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve output lacks %q", want)
		}
	}
	// Once fixed, check passes.
	os.Remove(filepath.Join(ops, "a_column.sql"))
	os.Remove(filepath.Join(ops, "b_syntax.sql"))
	if out, err := run("check"); err != nil || !strings.Contains(out, "checks out") {
		t.Errorf("check of good operations: %v\n%s", err, out)
	}
}

// On a migrated database, a MySQL user with only SELECT, INSERT, UPDATE and
// DELETE serves, with DBAPI_MIGRATE off and on (nothing left to apply).
func TestLeastPrivilege(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.MigrationsDir, cfg.OperationsDir = notesSchema(t)
	m := NewMain(cfg, App{})
	m.Logger = testLogger()
	if err := m.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.Close()

	var b [4]byte
	rand.Read(b[:])
	user, pass := "dbapi_lp_"+hex.EncodeToString(b[:]), "pw-"+hex.EncodeToString(b[:])
	admin := e.sqlx()
	for _, q := range []string{
		"CREATE USER '" + user + "'@'%' IDENTIFIED BY '" + pass + "'",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON `" + e.db.DBName + "`.* TO '" + user + "'@'%'",
	} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() { admin.Exec("DROP USER '" + user + "'@'%'") })

	for _, migrate := range []bool{false, true} {
		c := cfg
		dsn := e.db.Clone()
		dsn.User, dsn.Passwd = user, pass
		c.MySQLDSN, c.Migrate = dsn.FormatDSN(), migrate
		m := e.startApp(c, App{})
		body := "written by " + user
		if r := e.call("notes.add", map[string]string{"body": body}); r.status != 0 || r.err != nil {
			t.Errorf("migrate=%v: notes.add: %v", migrate, r)
		}
		m.Close()
	}
}

// A service that starts before MySQL is reachable keeps trying, and serves
// once MySQL answers, without a restart.
func TestStartBeforeMySQL(t *testing.T) {
	e := newEnv(t)
	// A port where nothing listens yet: connections are refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	cfg := e.config()
	cfg.MigrationsDir, cfg.OperationsDir = notesSchema(t)
	dsn := e.db.Clone()
	target := dsn.Addr
	dsn.Addr = addr
	cfg.MySQLDSN, cfg.ConnectTimeout = dsn.FormatDSN(), time.Minute

	m := NewMain(cfg, App{})
	m.Logger = testLogger()
	t.Cleanup(func() { m.Close() })
	started := make(chan error, 1)
	begin := time.Now()
	go func() { started <- m.Run(context.Background()) }()

	time.Sleep(2 * time.Second)
	select {
	case err := <-started:
		t.Fatalf("Run returned before MySQL was reachable: %v", err)
	default:
	}
	// MySQL becomes reachable on addr: a forwarder to the real server.
	proxy, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { proxy.Close() })
	go forward(proxy, target)

	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("the service did not start within 45s of MySQL becoming reachable")
	}
	t.Logf("serving %v after start", time.Since(begin).Round(time.Millisecond))
	if r := e.call("notes.add", map[string]string{"body": "late"}); r.status != 0 || r.err != nil {
		t.Errorf("notes.add: %v", r)
	}
}

// forward accepts connections on l and pipes each to target.
func forward(l net.Listener, target string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			s, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer s.Close()
			go io.Copy(s, c)
			io.Copy(c, s)
		}()
	}
}
