package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/internal/mariadbd"
	"github.com/dbapi-dev/dbapi/txrunner"
)

// requireMariaDB skips the test without mariadbd and mariadb-install-db,
// or fails it under CI, which must have them.
func requireMariaDB(t *testing.T) {
	t.Helper()
	if _, _, err := mariadbd.Binaries(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v; CI needs it for the benchmark's database profiles", err)
		}
		t.Skip(err)
	}
}

// TestMySQLD starts the binlog profile's server, checks its settings and
// that it runs transactions, and that Stop stops it and leaves nothing
// behind.
func TestMySQLD(t *testing.T) {
	if testing.Short() {
		t.Skip("initializes and starts a mariadbd; skipped with -short")
	}
	requireMariaDB(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where startMySQLD makes its folder

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	m, err := startMySQLD(ctx, "binlog")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	if !strings.HasPrefix(m.Addr(), "127.0.0.1:") || !strings.HasPrefix(m.Dir(), tmp) {
		t.Errorf("server on %s in %s", m.Addr(), m.Dir())
	}

	// The DSN of -mysql, pointed at this server as root.
	cfg, err := txrunner.ParseDSN("someone:secret@tcp(127.0.0.1:3306)/?interpolateParams=false")
	if err != nil {
		t.Fatal(err)
	}
	cfg = m.dsn(cfg)
	if cfg.Addr != m.Addr() || cfg.User != "root" || cfg.Passwd != "" || cfg.InterpolateParams {
		t.Errorf("dsn: %s", cfg.FormatDSN())
	}
	db, err := txrunner.Open(ctx, cfg, txrunner.PoolConfig{MaxOpen: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logBin, syncBinlog, flush string
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.log_bin, @@GLOBAL.sync_binlog, @@GLOBAL.innodb_flush_log_at_trx_commit").
		Scan(&logBin, &syncBinlog, &flush); err != nil {
		t.Fatal(err)
	}
	if logBin != "1" || syncBinlog != "1" || flush != "1" {
		t.Errorf("log_bin=%s sync_binlog=%s innodb_flush_log_at_trx_commit=%s, want 1 each", logBin, syncBinlog, flush)
	}
	if m := describeMachine(ctx, db); m.BinLog != "1" || m.SyncBinlog != "1" || m.FlushAtTrx != "1" {
		t.Errorf("describeMachine: %+v", m)
	}

	// Three transactions: the status meter counts three COMMITs, as
	// nobody else uses this server.
	for _, q := range []string{"CREATE DATABASE t", "CREATE TABLE t.x (id INT PRIMARY KEY) ENGINE=InnoDB"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	meter := newStatusMeter(db, "Com_commit")
	meter.begin()
	for i := range 3 {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO t.x VALUES (?)", i); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	meter.finish()
	if got := meter.used(); got != 3 {
		t.Errorf("Com_commit grew by %d, want 3", got)
	}
	if got := newStatusMeter(db, "Com_commit").used(); got != -1 {
		t.Errorf("a meter never begun: %d, want -1", got)
	}
	db.Close()

	m.Stop()
	if m.Running() {
		t.Error("mariadbd still running after Stop")
	}
	m.Stop() // again: nothing to do
	if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
		t.Errorf("left behind in %s: %v (%v)", tmp, entries, err)
	}
}

// TestMySQLDCancelled checks that a start cut short by the context (Ctrl-C)
// leaves no folder behind.
func TestMySQLDCancelled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mariadb-install-db; skipped with -short")
	}
	requireMariaDB(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if m, err := startMySQLD(ctx, "binlog"); err == nil {
		m.Stop()
		t.Fatal("started with a cancelled context")
	}
	if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
		t.Errorf("left behind in %s: %v (%v)", tmp, entries, err)
	}
}

func TestMySQLDUnknownProfile(t *testing.T) {
	_, err := startMySQLD(context.Background(), "default")
	if err == nil || !strings.Contains(err.Error(), `unknown profile "default"`) {
		t.Errorf("error %v", err)
	}
}
