package replica

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/internal/mariadbd"
	"github.com/dbapi-dev/dbapi/internal/prereq"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

func TestMain(m *testing.M) {
	// The driver logs each connection a killed server broke.
	mysql.SetLogger(log{})
	os.Exit(m.Run())
}

type log struct{}

func (log) Print(...any) {}

// env is a primary and replicas of its own (internal/mariadbd), a
// database "app" with a table t, and the primary's pool.
type env struct {
	t       testing.TB
	repl    *mariadbd.Replication
	primary *sqlx.DB
}

// requireServers skips without mariadbd, or fails under CI.
func requireServers(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a primary and replicas; skipped with -short")
	}
	_, _, err := mariadbd.Binaries()
	prereq.Require(t, err)
}

// newEnv starts a primary and n replicas, and a database on them. Each
// replica also has the account reader, with SELECT on app only.
func newEnv(t testing.TB, n int) *env {
	t.Helper()
	requireServers(t)
	dir, err := os.MkdirTemp("", "replica-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	repl, err := mariadbd.StartReplication(ctx, dir, n, "--innodb-buffer-pool-size=32M", "--max-connections=200")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(repl.Kill)
	e := &env{t: t, repl: repl}
	cfg, err := txrunner.ParseDSN(mariadbd.RootDSN(repl.Primary, ""))
	if err != nil {
		t.Fatal(err)
	}
	if e.primary, err = txrunner.Open(ctx, cfg, txrunner.PoolConfig{MaxOpen: 16}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.primary.Close() })
	for _, q := range []string{
		"CREATE DATABASE app",
		"CREATE TABLE app.t (id INT PRIMARY KEY)",
		// Replicated, as every statement here: the replicas get the
		// database, the table and the account.
		"CREATE USER reader@'%' IDENTIFIED BY 'reader-secret'",
		"GRANT SELECT ON app.* TO reader@'%'",
	} {
		if _, err := e.primary.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range repl.Replicas {
		if err := r.WaitCaughtUp(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// dsn is replica i's DSN, as root or as reader.
func (e *env) dsn(i int, reader bool) string {
	c := mysql.NewConfig()
	c.Net, c.Addr, c.User, c.DBName = "tcp", e.repl.Replicas[i].Addr(), "root", "app"
	if reader {
		c.User, c.Passwd = "reader", "reader-secret"
	}
	c.Timeout = 2 * time.Second
	return c.FormatDSN()
}

// open opens a Set on the replicas (as root) with cfg; the checks run
// every 100ms unless cfg says otherwise.
func (e *env) open(cfg Config) *Set {
	e.t.Helper()
	if cfg.DSNs == nil {
		for i := range e.repl.Replicas {
			cfg.DSNs = append(cfg.DSNs, e.dsn(i, false))
		}
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := Open(context.Background(), e.primary, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Close() })
	return s
}

var nextID atomic.Int64

// write commits a new row on one connection of the primary, reads the
// position on that connection after COMMIT, and returns both.
func (e *env) write(s *Set) (int64, Position) {
	e.t.Helper()
	ctx := context.Background()
	conn, err := e.primary.Connx(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	id := nextID.Add(1)
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO app.t VALUES (?)", id); err != nil {
		e.t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		e.t.Fatal(err)
	}
	pos, err := ReadPosition(ctx, conn, s.Flavour())
	if err != nil || pos.IsZero() {
		e.t.Fatalf("position after commit: %v, %v", pos, err)
	}
	return id, pos
}

// has reports whether db has row id.
func has(t testing.TB, db *sqlx.DB, id int64) bool {
	t.Helper()
	var n int
	if err := db.Get(&n, "SELECT COUNT(*) FROM app.t WHERE id = ?", id); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// waitStatus waits until replica i of s has status want, for 20s at most.
func waitStatus(t testing.TB, s *Set, i int, want Status) State {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := s.States()[i]
		if st.Status == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %d: %s, want %s", i, st, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// positionPool is a pool of one connection on the primary, for a
// SharedPosition.
func (e *env) positionPool() *sqlx.DB {
	e.t.Helper()
	cfg, err := txrunner.ParseDSN(mariadbd.RootDSN(e.repl.Primary, ""))
	if err != nil {
		e.t.Fatal(err)
	}
	db, err := txrunner.Open(context.Background(), cfg, txrunner.PoolConfig{MaxOpen: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	return db
}
