// Package dbtest gives tests a database of their own on the real MySQL or
// MariaDB server: a fresh database with a unique name, dropped when the
// test ends, so test packages and tests never collide.
//
// The server is DBAPI_TEST_MYSQL_DSN (default root@tcp(127.0.0.1:3306)/);
// the database name in that DSN, if any, is ignored.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/examples/bank/bank"
	"github.com/dbapi-dev/dbapi/internal/prereq"
	"github.com/dbapi-dev/dbapi/schema"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// ServerDSN returns the DSN of the test server.
func ServerDSN() string {
	if dsn := os.Getenv("DBAPI_TEST_MYSQL_DSN"); dsn != "" {
		return dsn
	}
	return "root@tcp(127.0.0.1:3306)/"
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// Config returns the driver configuration of a new, not yet created,
// database with a unique name built from the test's name.
func Config(t testing.TB) *mysql.Config {
	t.Helper()
	cfg, err := txrunner.ParseDSN(ServerDSN())
	if err != nil {
		t.Fatalf("DBAPI_TEST_MYSQL_DSN: %v", err)
	}
	var b [4]byte
	rand.Read(b[:])
	name := unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	cfg.DBName = "dbapi_test_" + name + "_" + hex.EncodeToString(b[:])
	return cfg
}

// Bank returns the migration sets of the bank example: dbapi's own tables
// and the bank's.
func Bank() []schema.Set {
	return []schema.Set{schema.OwnSet(), {FS: bank.Migrations(), VersionTable: schema.AppVersionTable}}
}

// New creates a unique database, applies the migration sets, and returns a
// pool on it. The database is dropped when the test ends.
func New(t testing.TB, sets ...schema.Set) (*sqlx.DB, *mysql.Config) {
	t.Helper()
	cfg := Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	Create(t, cfg)
	db, err := txrunner.Open(ctx, cfg, txrunner.PoolConfig{MaxOpen: 32})
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := schema.Migrate(ctx, db.DB, nil, sets...); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	return db, cfg
}

// Create creates the database named in cfg and drops it when the test ends.
func Create(t testing.TB, cfg *mysql.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := schema.EnsureDatabase(ctx, cfg); err != nil {
		prereq.Missing(t, "no MySQL server for integration tests (%v); set DBAPI_TEST_MYSQL_DSN", err)
	}
	t.Cleanup(func() { Drop(t, cfg) })
}

// Drop drops the database named in cfg.
func Drop(t testing.TB, cfg *mysql.Config) {
	t.Helper()
	c := cfg.Clone()
	c.DBName = ""
	connector, err := mysql.NewConnector(c)
	if err != nil {
		t.Errorf("drop test database: %v", err)
		return
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	if _, err := db.Exec("DROP DATABASE IF EXISTS `" + cfg.DBName + "`"); err != nil {
		t.Errorf("drop test database %s: %v", cfg.DBName, err)
	}
}
