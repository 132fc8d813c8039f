package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/schema"
	"github.com/dbapi-dev/dbapi/txrunner"
)

// What a new user trips over first is said plainly: a refused login
// names the user and the host the server saw (never the password), and
// the command exits non-zero.
func TestLoginRefused(t *testing.T) {
	e := newEnv(t)
	var b [4]byte
	rand.Read(b[:])
	user := "dbapi_nosuch_" + hex.EncodeToString(b[:])
	dsn := e.db.Clone()
	dsn.User, dsn.Passwd = user, "the-wrong-secret"
	cfg := e.config()
	cfg.MySQLDSN = dsn.FormatDSN()
	cfg.MigrationsDir, cfg.OperationsDir = notesSchema(t)
	m := NewMain(cfg, App{})
	m.Logger = testLogger()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err := m.Run(ctx)
	m.Close()
	var login *txrunner.LoginError
	if !errors.As(err, &login) || !strings.Contains(err.Error(), "the server refused the login: Access denied for user '"+user+"'@'") {
		t.Fatalf("got %v, want the login refused, naming the user and host", err)
	}
	if strings.Contains(err.Error(), "the-wrong-secret") || strings.Contains(err.Error(), "internal") {
		t.Errorf("the error shows the password, or calls it internal: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("a refused login was retried for %v", time.Since(start))
	}
	if !strings.Contains(hint(err), "DBAPI_MYSQL_DSN") {
		t.Errorf("no hint for %v", err)
	}
	t.Setenv("DBAPI_MYSQL_DSN", cfg.MySQLDSN)
	t.Setenv("DBAPI_OPERATIONS_DIR", cfg.OperationsDir)
	t.Setenv("DBAPI_LOG_LEVEL", "error")
	if code := Command([]string{"check"}, App{}); code == 0 {
		t.Error("check exits 0 when the login is refused")
	}
}

// A folder that does not exist is named as such, by check (not as a
// problem of the operations) and by migrate (before it creates anything).
func TestMissingFolders(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.OperationsDir = t.TempDir() + "/nope"
	m := NewMain(cfg, App{})
	m.Logger = testLogger()
	problems, err := m.Check(context.Background())
	m.Close()
	if len(problems) != 0 || err == nil || err.Error() != `DBAPI_OPERATIONS_DIR: the folder "`+cfg.OperationsDir+`" does not exist` {
		t.Errorf("check: %v, %v", problems, err)
	}
	cfg.OperationsDir, cfg.MigrationsDir = "", "main.go"
	m = NewMain(cfg, App{})
	m.Logger = testLogger()
	err = m.Migrate(context.Background())
	m.Close()
	if err == nil || err.Error() != `DBAPI_MIGRATIONS_DIR: "main.go" is a file, not a folder` {
		t.Errorf("migrate: %v", err)
	}
}

// logged runs a service with a logger that keeps what it writes, and
// returns the records.
func logged(t *testing.T, cfg Config) []map[string]any {
	t.Helper()
	var buf bytes.Buffer
	m := NewMain(cfg, App{})
	m.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		m.Close()
		t.Fatal(err)
	}
	m.Close()
	var records []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var r map[string]any
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		records = append(records, r)
	}
	return records
}

// Migrations are logged in the order they ran, dbapi's own first; with
// DBAPI_MIGRATE=false, pending migrations are named in a warning per
// version table.
func TestMigrationLogs(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.MigrationsDir, cfg.OperationsDir = notesSchema(t)
	var tables []string
	for _, r := range logged(t, cfg) {
		if r["msg"] == "migrations applied" {
			tables = append(tables, r["version_table"].(string))
		}
	}
	if strings.Join(tables, " ") != schema.OwnVersionTable+" "+schema.AppVersionTable {
		t.Errorf("migrations logged for %v, want dbapi's own, then the application's", tables)
	}

	// A second migration, not applied; dbapi's own all applied.
	writeOp(t, cfg.MigrationsDir, "00007_tags.sql", "-- +goose Up\nCREATE TABLE tags (id INT);\n-- +goose Down\nDROP TABLE tags;\n")
	writeOp(t, cfg.MigrationsDir, "00009_more.sql", "-- +goose Up\nCREATE TABLE more (id INT);\n-- +goose Down\nDROP TABLE more;\n")
	cfg.Migrate = false
	var warnings []string
	for _, r := range logged(t, cfg) {
		if r["level"] == "WARN" && strings.HasPrefix(r["msg"].(string), "migrations are pending") {
			warnings = append(warnings, r["version_table"].(string)+" "+strings.TrimSuffix(strings.TrimSuffix(
				jsonText(r["first_pending"])+" "+jsonText(r["pending"]), " "), " "))
		}
	}
	if strings.Join(warnings, ", ") != schema.AppVersionTable+" 7 2" {
		t.Errorf("warnings: %q, want one for %s naming version 7 (2 pending)", warnings, schema.AppVersionTable)
	}
	var n int
	if err := e.sqlx().Get(&n, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN ('tags', 'more')"); err != nil || n != 0 {
		t.Errorf("DBAPI_MIGRATE=false applied a migration (%d tables, %v)", n, err)
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// With the embedded NATS server, serve prints the lines that reach it, with
// the URL it really took.
func TestTryIt(t *testing.T) {
	var out bytes.Buffer
	tryIt(&out, "nats://127.0.0.1:4399", "shop", App{TryIt: func(url, prefix string) []string {
		return []string{"NATS_URL=" + url + " DBAPI_PREFIX=" + prefix + " node example.mjs"}
	}})
	want := "Serving on the embedded NATS server nats://127.0.0.1:4399. Try it:\n" +
		"    nats --server nats://127.0.0.1:4399 micro ls\n" +
		"    nats --server nats://127.0.0.1:4399 micro info dbapi\n" +
		"    NATS_URL=nats://127.0.0.1:4399 DBAPI_PREFIX=shop node example.mjs\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}
