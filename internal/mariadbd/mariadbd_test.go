package mariadbd

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/internal/prereq"
	"github.com/go-sql-driver/mysql"
)

// requireBinaries skips the test without mariadbd and mariadb-install-db,
// or fails it under CI, which must have them.
func requireBinaries(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("initializes and starts a mariadbd; skipped with -short")
	}
	_, _, err := Binaries()
	prereq.Require(t, err)
}

// open returns a pool as root on s.
func open(t *testing.T, s *Server) *sql.DB {
	t.Helper()
	c := mysql.NewConfig()
	c.Net, c.Addr, c.User, c.Timeout = "tcp", s.Addr(), "root", 2*time.Second
	connector, err := mysql.NewConnector(c)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestServer starts a server with an extra setting, stops it, restarts it
// on the same data directory and port, kills it and restarts it again.
func TestServer(t *testing.T) {
	requireBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	if err := Init(ctx, dir); err != nil {
		t.Fatal(err)
	}
	s, err := New(dir, "--max-connections=77")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Kill() })
	if s.Running() || s.PID() != 0 || s.Dir() != dir || !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("before Start: running %v, pid %d, dir %s, addr %s", s.Running(), s.PID(), s.Dir(), s.Addr())
	}
	if err := s.Stop(); err != nil {
		t.Errorf("Stop before Start: %v", err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !s.Running() || s.PID() == 0 {
		t.Fatalf("after Start: running %v, pid %d", s.Running(), s.PID())
	}
	if err := s.Start(ctx); err == nil {
		t.Error("a second Start while running succeeded")
	}
	db := open(t, s)
	var maxConn int
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.max_connections").Scan(&maxConn); err != nil {
		t.Fatal(err)
	}
	if maxConn != 77 {
		t.Errorf("max_connections %d, want 77 (the extra argument)", maxConn)
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE kept"); err != nil {
		t.Fatal(err)
	}
	if s.ErrLog() == "" {
		t.Error("empty error log")
	}

	addr := s.Addr()
	for _, c := range []struct {
		name string
		down func() error
	}{
		{"stopped", s.Stop},
		{"killed", s.Kill},
	} {
		if err := c.down(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if s.Running() {
			t.Fatalf("%s: still running", c.name)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatalf("restart after %s: %v", c.name, err)
		}
		var name string
		if err := db.QueryRowContext(ctx, "SHOW DATABASES LIKE 'kept'").Scan(&name); err != nil || s.Addr() != addr {
			t.Errorf("restart after %s: database %q (%v), on %s (was %s)", c.name, name, err, s.Addr(), addr)
		}
	}
}

// TestStartFails checks that a server that cannot start, or a start cut
// short, is an error that quotes the error log, and leaves nothing running.
func TestStartFails(t *testing.T) {
	requireBinaries(t)
	dir := t.TempDir()
	if err := Init(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
		args []string
		want string
	}{
		{"unknown option", context.Background(), []string{"--no-such-option=1"}, "exited at start"},
		{"cancelled", cancelled, nil, "did not answer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := New(dir, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Start(c.ctx)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), s.ErrLog()) {
				t.Errorf("error %v, want %q and the error log", err, c.want)
			}
			if s.Running() {
				t.Error("still running")
			}
		})
	}
	if err := Init(cancelled, t.TempDir()); err == nil {
		t.Error("Init with a cancelled context succeeded")
	}
}
