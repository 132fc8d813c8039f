//go:build linux

package haproxy

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/internal/mariadbd"
	"github.com/dbapi-dev/dbapi/internal/prereq"
	"github.com/go-sql-driver/mysql"
)

// require skips the test without haproxy or a Galera cluster's binaries,
// or fails it under CI, which must have them.
func require(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a Galera cluster and haproxy; skipped with -short")
	}
	prereq.Require(t, mariadbd.RequireGalera())
	_, err := Binary()
	prereq.Require(t, err)
}

func pool(t *testing.T, addr string) *sql.DB {
	t.Helper()
	c := mysql.NewConfig()
	c.Net, c.Addr, c.User = "tcp", addr, "root"
	c.Timeout, c.ReadTimeout = 2*time.Second, 10*time.Second
	connector, err := mysql.NewConnector(c)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return db
}

// nodeName returns the name of the node a new connection through addr
// reaches.
func nodeName(t *testing.T, addr string) string {
	t.Helper()
	db := pool(t, addr)
	defer db.Close()
	var name string
	if err := db.QueryRow("SELECT @@wsrep_node_name").Scan(&name); err != nil {
		t.Fatalf("through %s: %v", addr, err)
	}
	return name
}

// TestConfig checks the configuration each mode writes.
func TestConfig(t *testing.T) {
	backends := []Backend{{"node1", "127.0.0.1:1001", "127.0.0.1:2001"}, {"node2", "127.0.0.1:1002", "127.0.0.1:2002"}}
	for _, c := range []struct {
		name string
		cfg  Config
		want []string
		not  []string
	}{
		{"single writer", Config{Backends: backends},
			[]string{"balance first", "option httpchk", "http-check expect status 200", "on-marked-down shutdown-sessions",
				"server node1 127.0.0.1:1001 check addr 127.0.0.1 port 2001\n", "server node2 127.0.0.1:1002 check addr 127.0.0.1 port 2002 backup\n"},
			[]string{"mysql-check", "roundrobin", "shutdown-backup-sessions", "stick"}},
		{"round robin, mysql-check", Config{Backends: backends, Balance: RoundRobin, Check: MySQLCheck, Interval: time.Second},
			[]string{"balance roundrobin", "option mysql-check user root", "inter 1000ms", "server node2 127.0.0.1:1002 check\n"},
			[]string{"backup", "httpchk", "port 2002", "stick"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			text, err := (&Proxy{addr: "127.0.0.1:9", statAddr: "127.0.0.1:10"}).config(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("no %q in\n%s", w, text)
				}
			}
			for _, n := range c.not {
				if strings.Contains(text, n) {
					t.Errorf("%q in\n%s", n, text)
				}
			}
		})
	}
	if _, err := (&Proxy{}).config(Config{Backends: []Backend{{"n", "127.0.0.1:1", "no port"}}}); err == nil {
		t.Error("a check address without a port was accepted")
	}
}

// TestCheckWithoutWsrep checks that a server without Galera (the test
// server at 127.0.0.1:3306, only read), or none at all, is unhealthy.
func TestCheckWithoutWsrep(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:3306", "127.0.0.1:1"} {
		rec := httptest.NewRecorder()
		(&Check{DB: pool(t, addr)}).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s: %d %s, want 503", addr, rec.Code, rec.Body)
		}
	}
}

// TestProxyFollowsGalera runs a 3-node Galera cluster behind three
// proxies and isolates the first node: the proxies with the wsrep-aware
// check (single writer and round-robin) mark it down, shut its
// connections and send new ones elsewhere; the one with HAProxy's
// mysql-check keeps it up (that is why the HTTP check exists). Healed,
// the node is up again and takes the single writer's new connections
// back, while those opened meanwhile to the next node stay open.
func TestProxyFollowsGalera(t *testing.T) {
	require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := mariadbd.StartCluster(ctx, t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var backends []Backend
	for i := range c.Size() {
		cs, err := ServeCheck(&Check{DB: pool(t, c.Addr(i))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		backends = append(backends, Backend{Name: "node" + string(rune('1'+i)), Addr: c.Addr(i), CheckAddr: cs.Addr()})
		resp, err := http.Get("http://" + cs.Addr())
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("check of a Synced node: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	start := func(cfg Config) *Proxy {
		t.Helper()
		cfg.Backends = backends
		p, err := Start(ctx, t.TempDir(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		for _, b := range backends {
			if err := p.WaitState(ctx, b.Name, "UP", 10*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	single := start(Config{Balance: SingleWriter})
	spread := start(Config{Balance: RoundRobin})
	login := start(Config{Balance: RoundRobin, Check: MySQLCheck})

	for range 3 {
		if n := nodeName(t, single.Addr()); n != "node1" {
			t.Fatalf("single writer reached %s, want node1", n)
		}
	}
	seen := map[string]bool{}
	for range 6 {
		seen[nodeName(t, spread.Addr())] = true
	}
	if len(seen) != 3 {
		t.Errorf("round-robin reached %v, want the 3 nodes", seen)
	}

	// A connection held through the single writer, on node1.
	held, err := pool(t, single.Addr()).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := c.Isolate(ctx, 0, true); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Proxy{single, spread} {
		if err := p.WaitState(ctx, "node1", "DOWN", 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := c.State(ctx, 0); err != nil || s.ClusterStatus == "Primary" {
		t.Fatalf("node1 is down for the proxies but says %v (%v)", s, err)
	}
	if err := held.PingContext(ctx); err == nil {
		t.Error("a connection to the node marked down is still open (on-marked-down shutdown-sessions)")
	}
	for range 3 {
		if n := nodeName(t, single.Addr()); n != "node2" {
			t.Errorf("single writer with node1 down reached %s, want node2 (the next in order)", n)
		}
	}
	onNode2, err := pool(t, single.Addr()).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer onNode2.Close()
	// mysql-check: a login succeeds on the isolated node, so it stays up.
	time.Sleep(2 * time.Second) // 4 checks
	if m, err := login.States(ctx); err != nil || m["node1"] != "UP" {
		t.Errorf("with mysql-check the isolated node is %q (%v); measured UP so far: has HAProxy changed?", m["node1"], err)
	}

	if err := c.Isolate(ctx, 0, false); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitServing(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := single.WaitState(ctx, "node1", "UP", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := nodeName(t, single.Addr()); n != "node1" {
		t.Errorf("single writer after node1's return reached %s, want node1", n)
	}
	if err := onNode2.PingContext(ctx); err != nil {
		t.Errorf("a connection opened to node2 while node1 was down was cut at node1's return: %v", err)
	}
}
