package service

// Read replicas end to end: a MariaDB primary and a GTID replica of the
// test's own (internal/mariadbd), the bank served by whole services in
// process, clients over NATS.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/internal/mariadbd"
	"github.com/dbapi-dev/dbapi/internal/natstest"
	"github.com/dbapi-dev/dbapi/internal/prereq"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/dbapi-dev/dbapi/replica"
	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
)

// replicaEnv is a primary and one replica, the bank's database on them.
type replicaEnv struct {
	*env
	repl    *mariadbd.Replication
	replica *sqlx.DB // root on the replica, to read its own counters
}

func newReplicaEnv(t *testing.T) *replicaEnv {
	t.Helper()
	_, _, err := mariadbd.Binaries()
	prereq.Require(t, err)
	dir, err := os.MkdirTemp("", "dbapi-replicas-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	repl, err := mariadbd.StartReplication(ctx, dir, 1, "--innodb-buffer-pool-size=32M", "--max-connections=300")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(repl.Kill)
	cfg, err := mysql.ParseDSN(mariadbd.RootDSN(repl.Primary, "bank"))
	if err != nil {
		t.Fatal(err)
	}
	e := &replicaEnv{env: &env{t: t, db: cfg, url: natstest.URL(t), prefix: fmt.Sprintf("dbapitestrepl%d", time.Now().UnixNano()%1e9)}, repl: repl}
	e.nc = natstest.Connect(t, e.url)
	if e.replica, err = sqlx.Open("mysql", mariadbd.RootDSN(repl.Replicas[0].Server, "")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.replica.Close() })
	return e
}

// config serves the bank on the primary, with the replica, under a
// prefix of its own.
func (e *replicaEnv) config(prefix string, maxLag time.Duration) Config {
	c := e.env.config()
	c.Prefix, c.QueueGroup = prefix, prefix
	c.ReplicaDSN = mariadbd.RootDSN(e.repl.Replicas[0].Server, "bank")
	c.ReplicaWait = 50 * time.Millisecond
	c.ReplicaMaxLag = maxLag
	c.HTTPAddr = "127.0.0.1:0"
	return c
}

// selects returns the replica's own count of SELECTs run.
func (e *replicaEnv) selects() int64 {
	e.t.Helper()
	var name string
	var n int64
	if err := e.replica.QueryRow("SHOW GLOBAL STATUS LIKE 'Com_select'").Scan(&name, &n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// get reads an account's balance through prefix, sending after (if any)
// as Dbapi-After.
func (e *replicaEnv) get(prefix string, id uint64, after string) (string, reply) {
	e.t.Helper()
	h := nats.Header{}
	if after != "" {
		h.Set(protocol.HeaderAfter, after)
	}
	r := call(e.nc, prefix+".accounts.get", []byte(fmt.Sprintf(`{"id":%d}`, id)), h, 30*time.Second)
	var a struct{ Balance string }
	if r.err == nil && r.status == 0 {
		json.Unmarshal(r.body, &a)
	}
	return a.Balance, r
}

// transfer moves amount and returns the reply's Dbapi-Position.
func (e *replicaEnv) transfer(prefix string, from, to uint64, amount string) string {
	e.t.Helper()
	body := []byte(fmt.Sprintf(`{"from":%d,"to":%d,"amount":%q}`, from, to, amount))
	msg, err := e.nc.RequestMsg(&nats.Msg{Subject: prefix + ".accounts.transfer", Data: body}, 30*time.Second)
	if err != nil || msg.Header.Get("Nats-Service-Error-Code") != "" {
		e.t.Fatalf("transfer: %v %v %s", err, msg.Header, msg.Data)
	}
	pos := msg.Header.Get(protocol.HeaderPosition)
	if _, err := replica.ParsePosition(pos); err != nil {
		e.t.Fatalf("the reply to a write carries Dbapi-Position %q: %v", pos, err)
	}
	return pos
}

func TestReadReplicas(t *testing.T) {
	e := newReplicaEnv(t)
	prefix := e.prefix
	m := e.start(e.config(prefix, time.Second))
	e.prefix = prefix
	ids := e.openAccounts(2, "100.00")
	if err := e.repl.Replicas[0].WaitCaughtUp(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}

	t.Run("reads run on the replica, writes on the primary", func(t *testing.T) {
		before, routed := e.selects(), m.replicas.Count(replica.RouteReplica)
		for range 20 {
			if _, r := e.get(prefix, ids[0], ""); r.err != nil || r.status != 0 {
				t.Fatalf("get: %v", r)
			}
		}
		if got := e.selects() - before; got < 20 {
			t.Errorf("the replica ran %d SELECTs for 20 reads; want them all there", got)
		}
		if got := m.replicas.Count(replica.RouteReplica) - routed; got != 20 {
			t.Errorf("%d reads routed to the replica; want 20", got)
		}
		e.transfer(prefix, ids[0], ids[1], "1.00") // fails the test without a position
		resp, err := http.Get("http://" + m.HTTP.Addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "replicas: "+e.repl.Replicas[0].Addr()+" ok") {
			t.Errorf("/readyz: %d %q; want ok with the replica's state", resp.StatusCode, b)
		}
	})

	t.Run("a malformed Dbapi-After is a 400", func(t *testing.T) {
		if _, r := e.get(prefix, ids[0], "not-a-token"); r.status != 400 || r.code != "bad_position" {
			t.Errorf("get with a bad token: %v; want 400 bad_position", r)
		}
	})

	t.Run("replica killed with -9 under a read load: no read fails", func(t *testing.T) {
		stop := make(chan struct{})
		var failed, reads atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					reads.Add(1)
					if _, r := e.get(prefix, ids[0], ""); r.err != nil || r.status != 0 {
						failed.Add(1)
						t.Errorf("a read failed while the replica was down: %v", r)
						return
					}
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		onPrimary := m.replicas.Count(replica.RouteNoReplica) + m.replicas.Count(replica.RouteFailed)
		if err := e.repl.Replicas[0].KillAndRestart(context.Background()); err != nil {
			t.Fatal(err)
		}
		// Reads come back to the replica once a check passes.
		back := m.replicas.Count(replica.RouteReplica)
		deadline := time.Now().Add(20 * time.Second)
		for m.replicas.Count(replica.RouteReplica) < back+20 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		moved := m.replicas.Count(replica.RouteNoReplica) + m.replicas.Count(replica.RouteFailed) - onPrimary
		t.Logf("%d reads, %d failed; %d ran on the primary while the replica was down", reads.Load(), failed.Load(), moved)
		if moved == 0 {
			t.Error("no read moved to the primary while the replica was down")
		}
		if m.replicas.Count(replica.RouteReplica) < back+20 {
			t.Error("reads did not come back to the replica within 20 s of its restart")
		}
	})

	t.Run("replication stopped: the lag grows past the bound and reads move", func(t *testing.T) {
		r := e.repl.Replicas[0]
		if err := r.StopReplication(context.Background()); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for m.replicas.States()[0].Healthy() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if st := m.replicas.States()[0]; st.Healthy() {
			t.Fatalf("replica still healthy 10 s after replication stopped: %v", st)
		}
		before := m.replicas.Count(replica.RouteNoReplica)
		for range 5 {
			if _, r := e.get(prefix, ids[0], ""); r.err != nil || r.status != 0 {
				t.Fatalf("get: %v", r)
			}
		}
		if got := m.replicas.Count(replica.RouteNoReplica) - before; got != 5 {
			t.Errorf("%d of 5 reads on the primary while the replica does not replicate", got)
		}
		if err := r.StartReplication(context.Background()); err != nil {
			t.Fatal(err)
		}
		deadline = time.Now().Add(20 * time.Second)
		for !m.replicas.States()[0].Healthy() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if st := m.replicas.States()[0]; !st.Healthy() {
			t.Errorf("replica not healthy 20 s after replication started again: %v", st)
		}
	})

	// dbapi check prepares the read-only operations on a replica too: a
	// table the primary has and the replica lacks (made on the primary
	// without the binary log) is a problem there, and only there.
	t.Run("check prepares read-only operations on a replica", func(t *testing.T) {
		primary := e.sqlx()
		conn, err := primary.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, q := range []string{"SET SESSION sql_log_bin = 0", "CREATE TABLE primary_only (id INT PRIMARY KEY)", "SET SESSION sql_log_bin = 1"} {
			if _, err := conn.ExecContext(context.Background(), q); err != nil {
				t.Fatal(err)
			}
		}
		dir := t.TempDir()
		op := "-- name: primary_only.count\n-- result: one\n-- read-only: true\nSELECT COUNT(*) AS n FROM primary_only;\n"
		if err := os.WriteFile(dir+"/count.sql", []byte(op), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := e.config(prefix+"check", time.Second)
		cfg.OperationsDir = dir
		m := NewMain(cfg, App{})
		m.Logger = testLogger()
		defer m.Close()
		problems, err := m.Check(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(problems) != 1 || !strings.Contains(problems[0].Error(), "count.sql") ||
			!strings.Contains(problems[0].Error(), "on replica "+e.repl.Replicas[0].Addr()) {
			t.Errorf("check: %v; want one problem, count.sql on the replica", problems)
		}
	})

	// Read-your-writes, with a replica that applies every write 3 s late
	// and stays healthy (its lag is under a generous bound), so that a read
	// without a position does go to it.
	t.Run("read-your-writes", func(t *testing.T) {
		lagging := prefix + "lag"
		lm := e.start(e.config(lagging, time.Minute))
		r := e.repl.Replicas[0]
		if err := r.SetDelay(context.Background(), 3*time.Second); err != nil {
			t.Fatal(err)
		}
		defer r.SetDelay(context.Background(), 0)
		if err := r.WaitCaughtUp(context.Background(), time.Minute); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond) // a check with the delay in force
		want, _ := e.get(lagging, ids[0], "")
		pos := e.transfer(lagging, ids[0], ids[1], "1.00")
		stale, r1 := e.get(lagging, ids[0], "")
		fresh, r2 := e.get(lagging, ids[0], pos)
		if r1.err != nil || r2.err != nil || r1.status != 0 || r2.status != 0 {
			t.Fatalf("reads: %v %v", r1, r2)
		}
		if stale != want {
			t.Errorf("a read without the position saw %s right after the write (before %s): it did not run on the late replica", stale, want)
		}
		if fresh == want {
			t.Errorf("a read with the write's Dbapi-After saw %s, the balance before the write", fresh)
		}
		behind := lm.replicas.Count(replica.RouteBehind)
		if behind == 0 {
			t.Error("the read with the position was not sent to the primary as behind")
		}
		// Once the replica has the write, the same read is served there.
		if err := r.WaitCaughtUp(context.Background(), time.Minute); err != nil {
			t.Fatal(err)
		}
		onReplica := lm.replicas.Count(replica.RouteReplica)
		if again, r3 := e.get(lagging, ids[0], pos); r3.err != nil || again != fresh {
			t.Errorf("read with the position once the replica caught up: %s %v; want %s", again, r3, fresh)
		}
		if lm.replicas.Count(replica.RouteReplica) != onReplica+1 {
			t.Error("once the replica applied the position, the read did not run there")
		}
	})
}
