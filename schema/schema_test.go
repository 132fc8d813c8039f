package schema_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/dbapi-dev/dbapi/schema"
)

// dbapi's own migrations and the application's record their versions in
// separate tables, neither of them goose_db_version; a second run applies
// nothing.
func TestMigrateKeepsVersionTablesApart(t *testing.T) {
	db, cfg := dbtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	app := fstest.MapFS{
		"00001_a.sql": {Data: []byte("-- +goose Up\nCREATE TABLE a (id INT PRIMARY KEY);\n-- +goose Down\nDROP TABLE a;\n")},
		"00002_b.sql": {Data: []byte("-- +goose Up\nCREATE TABLE b (id INT PRIMARY KEY);\n-- +goose Down\nDROP TABLE b;\n")},
	}
	sets := []schema.Set{schema.OwnSet(), {FS: app, VersionTable: "my_versions"}}
	applied, err := schema.Migrate(ctx, db.DB, nil, sets...)
	if err != nil {
		t.Fatal(err)
	}
	if got := applied["my_versions"]; len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("applied to my_versions: %v, want [1 2]", got)
	}
	if got := applied[schema.OwnVersionTable]; len(got) == 0 {
		t.Errorf("applied to %s: %v, want dbapi's own", schema.OwnVersionTable, got)
	}
	var tables []string
	if err := db.Select(&tables, "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name", cfg.DBName); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(tables, " "), "a b dbapi_durable_outcomes dbapi_idempotency_keys dbapi_schema_version my_versions"; got != want {
		t.Errorf("tables: %s, want %s", got, want)
	}
	applied, err = schema.Migrate(ctx, db.DB, nil, sets...)
	if err != nil {
		t.Fatal(err)
	}
	for table, v := range applied {
		if len(v) != 0 {
			t.Errorf("second run applied %v to %s", v, table)
		}
	}
	if _, err := schema.Migrate(ctx, db.DB, nil, schema.Set{FS: app}); err == nil {
		t.Error("a set without a version table was accepted")
	}
}

// dbapi's own table is created only if it is not there: a database that an
// older dbapi migrated (with goose_db_version) keeps its keys.
func TestOwnMigrationOnAnOlderDatabase(t *testing.T) {
	db, _ := dbtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := db.ExecContext(ctx, `CREATE TABLE dbapi_idempotency_keys (
		idem_key VARBINARY(128) NOT NULL PRIMARY KEY, op VARCHAR(255) NOT NULL, request_hash BINARY(32) NOT NULL,
		reply MEDIUMBLOB NULL, created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), expires_at DATETIME(6) NOT NULL,
		KEY dbapi_idempotency_keys_expires (expires_at)) ENGINE=InnoDB`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO dbapi_idempotency_keys (idem_key, op, request_hash, expires_at) VALUES ('k', 'op', REPEAT('x', 32), NOW())"); err != nil {
		t.Fatal(err)
	}
	if _, err := schema.Migrate(ctx, db.DB, nil, schema.OwnSet()); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.GetContext(ctx, &n, "SELECT COUNT(*) FROM dbapi_idempotency_keys"); err != nil || n != 1 {
		t.Errorf("keys after migrating: %d (%v), want the 1 that was there", n, err)
	}
}
