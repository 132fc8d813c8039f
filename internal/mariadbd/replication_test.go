package mariadbd

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"
)

// replTest is a primary and one replica with a table on the primary, and
// the root pools of both.
type replTest struct {
	t       *testing.T
	r       *Replication
	rep     *Replica
	primary *sql.DB
	replica *sql.DB
}

func startReplTest(t *testing.T) *replTest {
	t.Helper()
	requireBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := StartReplication(ctx, t.TempDir(), 1, "--innodb-buffer-pool-size=32M")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Kill)
	x := &replTest{t: t, r: r, rep: r.Replicas[0], primary: open(t, r.Primary), replica: open(t, r.Replicas[0].Server)}
	x.primary.SetMaxOpenConns(1) // @@last_gtid is the session's
	for _, q := range []string{"CREATE DATABASE repl", "CREATE TABLE repl.t (id INT PRIMARY KEY)"} {
		if _, err := x.primary.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return x
}

// insert commits a row on the primary and returns the GTID of that
// commit, read in the committing session.
func (x *replTest) insert(id int) string {
	x.t.Helper()
	ctx := context.Background()
	if _, err := x.primary.ExecContext(ctx, "INSERT INTO repl.t VALUES (?)", id); err != nil {
		x.t.Fatal(err)
	}
	var gtid string
	if err := x.primary.QueryRowContext(ctx, "SELECT @@last_gtid").Scan(&gtid); err != nil || gtid == "" {
		x.t.Fatalf("@@last_gtid %q: %v", gtid, err)
	}
	return gtid
}

// wait runs MASTER_GTID_WAIT on the replica: 0 applied, -1 timed out.
func (x *replTest) wait(gtid string, timeout time.Duration) int {
	x.t.Helper()
	var res int
	if err := x.replica.QueryRow("SELECT MASTER_GTID_WAIT(?, ?)", gtid, timeout.Seconds()).Scan(&res); err != nil {
		x.t.Fatal(err)
	}
	return res
}

// has reports whether the replica has the row.
func (x *replTest) has(id int) bool {
	x.t.Helper()
	var n int
	if err := x.replica.QueryRow("SELECT COUNT(*) FROM repl.t WHERE id = ?", id).Scan(&n); err != nil {
		x.t.Fatal(err)
	}
	return n == 1
}

func (x *replTest) status() ReplicaStatus {
	x.t.Helper()
	st, err := x.rep.Status(context.Background())
	if err != nil {
		x.t.Fatal(err)
	}
	return st
}

// TestReplication starts a primary and a replica and applies each fault:
// a write reaches the replica, and is held back while the SQL thread is
// stopped, while replication is stopped, under MASTER_DELAY and while the
// replica is killed, then arrives once the fault ends.
func TestReplication(t *testing.T) {
	x := startReplTest(t)
	ctx := context.Background()

	var args string
	if err := x.replica.QueryRow("SELECT CONCAT_WS(' ', @@server_id, @@binlog_format, @@gtid_strict_mode, @@log_bin)").Scan(&args); err != nil {
		t.Fatal(err)
	}
	if args != "2 ROW ON ON" {
		t.Errorf("replica's server_id, binlog_format, gtid_strict_mode, log_bin: %q", args)
	}

	gtid := x.insert(1)
	if !strings.HasPrefix(gtid, "0-1-") {
		t.Errorf("@@last_gtid %q: want domain 0, server 1", gtid)
	}
	if res := x.wait(gtid, 10*time.Second); res != 0 || !x.has(1) {
		t.Fatalf("MASTER_GTID_WAIT %d, row there %v", res, x.has(1))
	}
	if st := x.status(); !st.Running() || st.GTIDSlavePos != gtid || st.SecondsBehind != 0 {
		t.Errorf("status %+v; want running at %s", st, gtid)
	}

	faults := []struct {
		name      string
		start     func(context.Context) error
		stop      func(context.Context) error
		io, sqlTh string // the threads while the fault lasts
	}{
		{"SQL thread stopped", x.rep.StopSQLThread, x.rep.StartSQLThread, "Yes", "No"},
		{"replication stopped", x.rep.StopReplication, x.rep.StartReplication, "No", "No"},
		{"MASTER_DELAY", func(ctx context.Context) error { return x.rep.SetDelay(ctx, 1500*time.Millisecond) },
			func(ctx context.Context) error { return x.rep.SetDelay(ctx, 0) }, "Yes", "Yes"},
		{"killed", func(context.Context) error { return x.rep.Kill() }, x.rep.Start, "", ""},
	}
	for i, f := range faults {
		id := 10 + i
		if err := f.start(ctx); err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		gtid := x.insert(id)
		if f.io != "" {
			st := x.status()
			if st.IORunning != f.io || st.SQLRunning != f.sqlTh {
				t.Errorf("%s: IO %s SQL %s, want %s %s", f.name, st.IORunning, st.SQLRunning, f.io, f.sqlTh)
			}
			if res := x.wait(gtid, 300*time.Millisecond); res != -1 || x.has(id) {
				t.Errorf("%s: MASTER_GTID_WAIT %d, row there %v; want -1 and not there", f.name, res, x.has(id))
			}
		} else if x.rep.Running() {
			t.Fatalf("%s: the replica still runs", f.name)
		}
		if err := f.stop(ctx); err != nil {
			t.Fatalf("%s: end: %v", f.name, err)
		}
		if err := x.rep.WaitRunning(ctx); err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		if res := x.wait(gtid, 20*time.Second); res != 0 || !x.has(id) {
			t.Errorf("%s ended: MASTER_GTID_WAIT %d, row there %v", f.name, res, x.has(id))
		}
	}
	if st := x.status(); st.SQLDelay != 0 {
		t.Errorf("SQL_Delay %d after SetDelay(0)", st.SQLDelay)
	}
}

// TestKillAndRestart kills the replica while the primary takes writes,
// restarts it, and finds every write there.
func TestKillAndRestart(t *testing.T) {
	x := startReplTest(t)
	ctx := context.Background()
	done := make(chan error)
	go func() {
		var err error
		for i := 0; i < 200 && err == nil; i++ {
			_, err = x.primary.ExecContext(ctx, "INSERT INTO repl.t VALUES (?)", 1000+i)
		}
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	pid := x.rep.PID()
	if err := x.rep.KillAndRestart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if x.rep.PID() == pid {
		t.Error("the replica's pid did not change")
	}
	if err := x.rep.WaitCaughtUp(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := x.replica.QueryRow("SELECT COUNT(*) FROM repl.t").Scan(&n); err != nil || n != 200 {
		t.Errorf("replica has %d rows (%v), want 200", n, err)
	}
	if err := x.r.Stop(); err != nil {
		t.Error(err)
	}
}
