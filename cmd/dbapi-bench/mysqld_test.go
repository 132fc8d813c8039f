package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/internal/mariadbd"
	"github.com/dbapi-dev/dbapi/internal/prereq"
	"github.com/dbapi-dev/dbapi/txrunner"
)

// requireMariaDB skips the test without mariadbd and mariadb-install-db,
// or fails it under CI, which must have them.
func requireMariaDB(t *testing.T) {
	t.Helper()
	if _, _, err := mariadbd.Binaries(); err != nil {
		prereq.Missing(t, "%v; the benchmark's database profiles need it", err)
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
// leaves no folder behind, nor a server running: at once, and (replica
// profile) once the primary runs.
func TestMySQLDCancelled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mariadb-install-db; skipped with -short")
	}
	requireMariaDB(t)
	for _, c := range []struct {
		profile string
		after   time.Duration // cancel after this long; 0: before the start
	}{
		{"binlog", 0},
		{profileReplica, 0},
		// Somewhere in the start (it takes about 3 s here): while the
		// data directory is made or copied, or a server starts.
		{profileReplica, time.Second},
		{profileReplica, 2 * time.Second},
	} {
		t.Run(fmt.Sprintf("%s after %v", c.profile, c.after), func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			ctx, cancel := context.WithCancel(context.Background())
			if c.after == 0 {
				cancel()
			} else {
				time.AfterFunc(c.after, cancel)
			}
			defer cancel()
			m, err := startMySQLD(ctx, c.profile)
			if err == nil {
				m.Stop()
				if c.after == 0 {
					t.Fatal("started with a cancelled context")
				}
				t.Logf("started within %v: the cancellation came too late to test", c.after)
			}
			if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
				t.Errorf("left behind in %s: %v (%v)", tmp, entries, err)
			}
			if pid := mariadbdIn(tmp); pid != "" {
				t.Errorf("mariadbd %s still runs on %s", pid, tmp)
			}
		})
	}
}

// mariadbdIn returns the pid of a process whose command line names dir,
// or "".
func mariadbdIn(dir string) string {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), dir) {
			return e.Name()
		}
	}
	return ""
}

// TestMySQLDReplica starts the replica profile's primary and replica,
// checks that the replica follows the primary and that caughtUp waits for
// it, and that Stop stops both and leaves nothing behind.
func TestMySQLDReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("initializes and starts two mariadbd; skipped with -short")
	}
	requireMariaDB(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	m, err := startMySQLD(ctx, profileReplica)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	if m.replica == nil || m.replicaPID == "" || m.replicaPID == m.pid || m.pid != strconv.Itoa(m.PID()) {
		t.Fatalf("primary pid %s, replica %v pid %s", m.pid, m.replica, m.replicaPID)
	}
	if _, ok := procCPU(m.replicaPID); !ok {
		t.Errorf("no CPU time of the replica's pid %s", m.replicaPID)
	}
	if !strings.HasPrefix(m.replica.Addr(), "127.0.0.1:") || m.replica.Addr() == m.Addr() || !strings.HasPrefix(m.root, tmp) {
		t.Errorf("primary on %s, replica on %s, in %s", m.Addr(), m.replica.Addr(), m.root)
	}

	cfg, err := txrunner.ParseDSN("someone:secret@tcp(127.0.0.1:3306)/bench")
	if err != nil {
		t.Fatal(err)
	}
	rcfg := m.replicaDSN(cfg)
	if rcfg.Addr != m.replica.Addr() || rcfg.User != "root" || rcfg.Passwd != "" || rcfg.DBName != "bench" {
		t.Errorf("replica dsn: %s", rcfg.FormatDSN())
	}
	if (&mysqld{}).replicaDSN(cfg) != nil {
		t.Error("a replica DSN without a replica")
	}
	pcfg := m.dsn(cfg)
	pcfg.DBName = ""
	primary, err := txrunner.Open(ctx, pcfg, txrunner.PoolConfig{MaxOpen: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	for _, q := range []string{"CREATE DATABASE bench", "CREATE TABLE bench.x (id INT PRIMARY KEY) ENGINE=InnoDB",
		"INSERT INTO bench.x VALUES (1), (2), (3)"} {
		if _, err := primary.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := m.caughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	// Caught up: the replica has all three rows at once (the DSN names
	// the database, which it got from the primary).
	replica, err := txrunner.Open(ctx, rcfg, txrunner.PoolConfig{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	var n int
	if err := replica.GetContext(ctx, &n, "SELECT COUNT(*) FROM x"); err != nil || n != 3 {
		t.Errorf("the replica has %d rows (%v), want 3", n, err)
	}
	// Its Com_select counts what it runs.
	meter := newStatusMeter(replica, "Com_select")
	meter.begin()
	for range 5 {
		if err := replica.GetContext(ctx, &n, "SELECT COUNT(*) FROM x"); err != nil {
			t.Fatal(err)
		}
	}
	meter.finish()
	if got := meter.used(); got != 5 {
		t.Errorf("Com_select on the replica grew by %d, want 5", got)
	}
	// Several counters in one statement, on the primary: a transaction
	// of one INSERT commits once and runs no SELECT; a counter that does
	// not exist leaves every one unread.
	both := newStatusMeter(primary, "Com_commit", "Com_select", "Com_insert")
	missing := newStatusMeter(primary, "Com_commit", "No_such_counter")
	meters((*statusMeter).begin, both, missing)
	tx, err := primary.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO bench.x VALUES (4)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	meters((*statusMeter).finish, both, missing)
	if got := both.counts(); got[0] != 1 || got[1] != 0 || got[2] != 1 {
		t.Errorf("Com_commit, Com_select, Com_insert grew by %v, want 1, 0, 1", got)
	}
	if got := missing.counts(); got[0] != -1 || got[1] != -1 || missing.used() != -1 {
		t.Errorf("with a missing counter: %v, want -1 each", got)
	}
	if err := (*mysqld)(nil).caughtUp(ctx); err != nil {
		t.Errorf("caughtUp without servers: %v", err)
	}
	primary.Close()
	replica.Close()

	m.Stop()
	if m.Running() || m.replica.Running() {
		t.Errorf("still running after Stop: primary %v, replica %v", m.Running(), m.replica.Running())
	}
	m.Stop() // again: nothing to do
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
