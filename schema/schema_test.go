package schema_test

import (
	"context"
	"fmt"
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
	// In the order they ran: dbapi's own first.
	if len(applied) != 2 || applied[0].VersionTable != schema.OwnVersionTable || len(applied[0].Versions) == 0 {
		t.Errorf("applied: %v, want dbapi's own first", applied)
	}
	if got := applied[1]; got.VersionTable != "my_versions" || len(got.Versions) != 2 || got.Versions[0] != 1 || got.Versions[1] != 2 {
		t.Errorf("applied to my_versions: %v, want [1 2]", got)
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
	for _, a := range applied {
		if len(a.Versions) != 0 {
			t.Errorf("second run applied %v to %s", a.Versions, a.VersionTable)
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

// PendingMigrations names the first version left to apply of each set,
// reading only: a set whose version table does not exist yet is all
// pending, and the table is not created.
func TestPendingMigrations(t *testing.T) {
	db, _ := dbtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	step := func(n int) fstest.MapFS {
		fs := fstest.MapFS{}
		for i := 1; i <= n; i++ {
			fs[fmt.Sprintf("%05d_t%d.sql", i*10, i)] = &fstest.MapFile{Data: []byte(fmt.Sprintf("-- +goose Up\nCREATE TABLE t%d (id INT);\n-- +goose Down\nDROP TABLE t%d;\n", i, i))}
		}
		return fs
	}
	pending, err := schema.PendingMigrations(ctx, db.DB, schema.OwnSet(), schema.Set{FS: step(2), VersionTable: "app_v"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 2 || pending[0].VersionTable != schema.OwnVersionTable || pending[0].First != 1 ||
		pending[1] != (schema.Pending{VersionTable: "app_v", First: 10, Count: 2}) {
		t.Errorf("nothing applied: %+v", pending)
	}
	var n int
	if err := db.GetContext(ctx, &n, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()"); err != nil || n != 0 {
		t.Errorf("%d tables after reading what is pending (%v), want none", n, err)
	}
	if _, err := schema.Migrate(ctx, db.DB, nil, schema.OwnSet(), schema.Set{FS: step(1), VersionTable: "app_v"}); err != nil {
		t.Fatal(err)
	}
	pending, err = schema.PendingMigrations(ctx, db.DB, schema.OwnSet(), schema.Set{FS: step(3), VersionTable: "app_v"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0] != (schema.Pending{VersionTable: "app_v", First: 20, Count: 2}) {
		t.Errorf("one of three applied: %+v", pending)
	}
}
