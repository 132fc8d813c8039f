package mariadbd

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/health"
	"github.com/dbapi-dev/dbapi/internal/prereq"
	"github.com/go-sql-driver/mysql"
)

// requireGalera skips the test without mariadbd, galera-4 or rsync, or
// fails it under CI, which must have them.
func requireGalera(t *testing.T) {
	t.Helper()
	requireBinaries(t)
	prereq.Require(t, RequireGalera())
}

// pool returns a pool as root on addr, on database name.
func pool(t *testing.T, addr, name string) *sql.DB {
	t.Helper()
	c := mysql.NewConfig()
	c.Net, c.Addr, c.User, c.DBName = "tcp", addr, "root", name
	c.Timeout, c.ReadTimeout, c.WriteTimeout = 2*time.Second, 30*time.Second, 30*time.Second
	connector, err := mysql.NewConnector(c)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return db
}

// conn returns one connection of db.
func conn(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// run runs the statements on c, failing the test on an error.
func run(t *testing.T, c *sql.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := c.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// wantError checks that err is the server error number with SQLSTATE
// state.
func wantError(t *testing.T, what string, err error, number uint16, state string) {
	t.Helper()
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != number || string(me.SQLState[:]) != state {
		t.Errorf("%s: error %v, want %d (%s)", what, err, number, state)
	}
}

// waitState waits up to a minute for node i's state to satisfy ok.
func waitState(t *testing.T, c *Cluster, i int, what string, ok func(NodeState) bool) NodeState {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := c.State(context.Background(), i)
		if err == nil && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d not %s within a minute: %v (%v)", i, what, s, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCluster starts a 3-node cluster and checks what the fault suite
// relies on: a write on one node is read on another; an isolated node
// leaves the primary component, answers ping and SELECT 1 but refuses a
// transaction with 1047, and comes back when healed; two nodes writing
// the same row conflict with 1213 at COMMIT; a node killed with -9
// rejoins and catches up on what it missed.
func TestCluster(t *testing.T) {
	requireGalera(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c, err := StartCluster(ctx, t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if c.Size() != 3 || len(c.Addrs()) != 3 || c.Addr(1) != c.Node(1).Addr() || c.GroupAddr(0) == c.GroupAddr(1) {
		t.Fatalf("size %d, addresses %v, group %s %s", c.Size(), c.Addrs(), c.GroupAddr(0), c.GroupAddr(1))
	}
	for i := range 3 {
		s, err := c.State(ctx, i)
		if err != nil {
			t.Logf("node %d's state after StartCluster: %v (a loaded machine?); waiting", i, err)
			s = waitState(t, c, i, "answering", func(NodeState) bool { return true })
		}
		if !s.Serving(3) {
			t.Fatalf("node %d after StartCluster: %v", i, s)
		}
	}
	if _, err := pool(t, c.Addr(0), "").ExecContext(ctx, "CREATE DATABASE g"); err != nil {
		t.Fatal(err)
	}
	dbs := []*sql.DB{pool(t, c.Addr(0), "g"), pool(t, c.Addr(1), "g"), pool(t, c.Addr(2), "g")}
	if _, err := dbs[0].ExecContext(ctx, "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := dbs[0].ExecContext(ctx, "INSERT INTO t VALUES (1, 0), (2, 0), (3, 0)"); err != nil {
		t.Fatal(err)
	}
	// read reads row id on node i once it has applied every earlier
	// commit of the cluster (wsrep_sync_wait).
	read := func(i, id int) int {
		t.Helper()
		c := conn(t, dbs[i])
		run(t, c, "SET SESSION wsrep_sync_wait = 1")
		var v int
		if err := c.QueryRowContext(ctx, "SELECT v FROM t WHERE id = ?", id).Scan(&v); err != nil {
			t.Fatalf("read on node %d: %v", i, err)
		}
		return v
	}
	if _, err := dbs[0].ExecContext(ctx, "UPDATE t SET v = 7 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	if v := read(1, 1); v != 7 {
		t.Errorf("node 1 reads %d, want 7 written on node 0", v)
	}

	t.Run("certification conflict", func(t *testing.T) {
		// A transaction on node 1 updates row 2; node 0 commits an update
		// of the same row meanwhile: node 1's COMMIT fails with 1213 and
		// nothing of it is applied.
		c1 := conn(t, dbs[1])
		run(t, c1, "BEGIN", "UPDATE t SET v = v + 10 WHERE id = 2")
		if _, err := dbs[0].ExecContext(ctx, "UPDATE t SET v = v + 1 WHERE id = 2"); err != nil {
			t.Fatal(err)
		}
		_, err := c1.ExecContext(ctx, "COMMIT")
		wantError(t, "COMMIT of the losing transaction", err, 1213, "40001")
		if v := read(2, 2); v != 1 {
			t.Errorf("row 2 is %d, want 1 (the winner only)", v)
		}
	})

	t.Run("isolated node", func(t *testing.T) {
		c2 := conn(t, dbs[2])
		run(t, c2, "BEGIN", "UPDATE t SET v = v + 100 WHERE id = 3")
		if err := c.Isolate(ctx, 2, true); err != nil {
			t.Fatal(err)
		}
		s := waitState(t, c, 2, "outside the primary component", func(s NodeState) bool { return s.ClusterStatus != "Primary" })
		if s.Ready || s.Serving(3) {
			t.Errorf("isolated node's state %v says ready", s)
		}
		waitState(t, c, 0, "in a primary component of 2", func(s NodeState) bool { return s.Serving(2) })
		// The transaction open when the node was cut off cannot commit.
		_, err := c2.ExecContext(ctx, "COMMIT")
		wantError(t, "COMMIT of a transaction open at the isolation", err, 1047, "08S01")
		// A new connection works, ping and SELECT 1 too, but no transaction.
		fresh := conn(t, dbs[2])
		if err := fresh.PingContext(ctx); err != nil {
			t.Errorf("ping on the isolated node: %v", err)
		}
		if _, err := fresh.ExecContext(ctx, "SELECT 1"); err != nil {
			t.Errorf("SELECT 1 on the isolated node: %v", err)
		}
		_, err = fresh.ExecContext(ctx, "BEGIN")
		wantError(t, "BEGIN on the isolated node", err, 1047, "08S01")
		_, err = fresh.ExecContext(ctx, "SELECT v FROM t WHERE id = 3")
		wantError(t, "SELECT of a table on the isolated node", err, 1047, "08S01")
		// dbapi's readiness check (package health) sees what a ping and
		// SELECT 1 do not, on this node and only on this one.
		for i, want := range []bool{true, true, false} {
			err := (&health.Database{DB: dbs[i], Writes: true}).Check(ctx)
			if (err == nil) != want {
				t.Errorf("health check of node %d while node 2 is isolated: %v; want healthy %v", i, err, want)
			}
			if err != nil && !strings.Contains(err.Error(), "galera node not ready") {
				t.Errorf("health check of the isolated node says %q; want it to name the galera state", err)
			}
		}
		// The others go on.
		if _, err := dbs[0].ExecContext(ctx, "UPDATE t SET v = v + 1 WHERE id = 3"); err != nil {
			t.Errorf("write on node 0 while node 2 is isolated: %v", err)
		}
		if err := c.Isolate(ctx, 2, false); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitServing(ctx, 2); err != nil {
			t.Fatal(err)
		}
		if v := read(2, 3); v != 1 {
			t.Errorf("healed node reads %d, want 1 (the write made while it was isolated)", v)
		}
		if err := (&health.Database{DB: dbs[2], Writes: true}).Check(ctx); err != nil {
			t.Errorf("health check of the healed node: %v", err)
		}
	})

	t.Run("killed node rejoins", func(t *testing.T) {
		if err := c.Kill(1); err != nil {
			t.Fatal(err)
		}
		if c.Node(1).Running() {
			t.Fatal("node 1 still runs after Kill")
		}
		if _, err := dbs[0].ExecContext(ctx, "UPDATE t SET v = 42 WHERE id = 1"); err != nil {
			t.Fatalf("write on node 0 after node 1 was killed: %v", err)
		}
		waitState(t, c, 0, "in a primary component of 2", func(s NodeState) bool { return s.Serving(2) })
		if err := c.Restart(ctx, 1); err != nil {
			t.Fatal(err)
		}
		// It recovered its position from its data and caught up by
		// incremental state transfer, not by copying the data again.
		if log := c.Node(1).ErrLog(); !strings.Contains(log, "IST received") || strings.Contains(log, "SST succeeded") {
			t.Errorf("the killed node did not rejoin by IST; its log:\n%s", log)
		}
		if v := read(1, 1); v != 42 {
			t.Errorf("restarted node reads %d, want 42 (written while it was down)", v)
		}
	})

	t.Run("stopped node rejoins", func(t *testing.T) {
		if err := c.Stop(2); err != nil {
			t.Fatal(err)
		}
		// A clean stop leaves the cluster at once: no eviction stall.
		waitState(t, c, 0, "in a primary component of 2", func(s NodeState) bool { return s.Serving(2) })
		if err := c.Restart(ctx, 2); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if s, err := c.State(ctx, i); err != nil || !s.Serving(3) {
				t.Errorf("node %d at the end: %v (%v)", i, s, err)
			}
		}
	})
}

// TestStartClusterFails checks the errors StartCluster gives before
// starting anything.
func TestStartClusterFails(t *testing.T) {
	requireGalera(t)
	if _, err := StartCluster(context.Background(), t.TempDir(), 0); err == nil {
		t.Error("a cluster of 0 nodes started")
	}
	if _, err := StartCluster(context.Background(), "/nonexistent/dir", 1); err == nil {
		t.Error("a cluster in a missing folder started")
	}
}

// TestTraversable checks that a 0700 temporary folder is opened to other
// users, and that a folder outside the temporary folder is refused.
func TestTraversable(t *testing.T) {
	dir := t.TempDir()
	inner := dir + "/a/b"
	if err := os.MkdirAll(inner, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir+"/a", 0o700)
	if err := traversable(inner); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{inner, dir + "/a", dir} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			t.Errorf("%s: mode %v (%v), want o+x", p, fi.Mode(), err)
		}
	}
	// Outside the temporary folder a closed parent is an error.
	closed := dir + "/closed"
	if err := os.MkdirAll(closed+"/x", 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(closed, 0o700)
	t.Setenv("TMPDIR", dir+"/elsewhere")
	if err := traversable(closed + "/x"); err == nil || !strings.Contains(err.Error(), closed+" is not enterable") {
		t.Errorf("a closed folder outside the temporary folder: error %v", err)
	}
}
