//go:build linux

package faults

// The fault suite on a 3-node MariaDB Galera cluster of the suite's own
// (internal/mariadbd's cluster mode, on loopback): the bank example's
// instances connect to the nodes directly or through HAProxy (with a
// wsrep-aware health check, internal/haproxy), under the same load and
// the same per-request accounting as the single-server faults. Faults: a
// node killed with -9 and restarted (it rejoins), a node cut off the
// others (gmcast.isolate) for a while and healed, and two instances
// writing the same few rows through different nodes (certification
// conflicts). Each keeps the promises of the other rows: 0 lost, 0
// applied twice, 0 applied despite an error, no 500 other than
// commit_outcome_unknown, and a request succeeds within the recovery
// time after the fault ends (the node back and Synced).

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/internal/haproxy"
	"github.com/dbapi-dev/dbapi/internal/mariadbd"
	"github.com/dbapi-dev/dbapi/internal/prereq"
	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// galeraTimeout is DBAPI_TIMEOUT on the cluster: above Galera's eviction
// stall (a node that vanishes stalls every commit of the cluster for
// about 6 s, evs.suspect_timeout and the view change), as the README
// advises, so that the stall is slow replies rather than timeouts.
const galeraTimeout = 10 * time.Second

// galera is the suite's Galera cluster, its checks for HAProxy and a
// root pool on each node.
type galera struct {
	dir     string
	cluster *mariadbd.Cluster
	admins  []*sqlx.DB
	checks  []*haproxy.CheckServer

	// unhealthy is when the fault made a node unable to serve (killed,
	// or seen outside the primary component), zero before, and failed
	// that node; the current scenario's fault sets them.
	unhealthy time.Time
	failed    int
}

// othersWatch samples, every 100 ms, whether every node but the failed
// one serves (Synced, ready, in the primary component): on a loaded
// machine the nodes that stay up can themselves leave the primary
// component for a moment around a view change, and requests to them
// then fail through no fault of the routing.
type othersWatch struct {
	mu      sync.Mutex
	samples []othersSample
	stop    chan struct{}
	done    chan struct{}
}

type othersSample struct {
	at      time.Time
	serving []bool // per node
}

func (g *galera) watchNodes() *othersWatch {
	w := &othersWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			// The nodes are read at once, so that one that hangs does
			// not leave the others unseen for its timeout.
			smp := othersSample{at: time.Now(), serving: make([]bool, g.cluster.Size())}
			var wg sync.WaitGroup
			for i := range smp.serving {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					defer cancel()
					st, err := mariadbd.ReadState(ctx, g.admins[i].DB)
					smp.serving[i] = err == nil && st.Ready && st.LocalState == "Synced" && st.ClusterStatus == "Primary"
				}()
			}
			wg.Wait()
			w.mu.Lock()
			w.samples = append(w.samples, smp)
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *othersWatch) close() { close(w.stop); <-w.done }

// othersServed reports whether, from from to to, every sample from the
// last one before from to the first one after to saw every node but
// failed serving.
func (w *othersWatch) othersServed(failed int, from, to time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	ok := func(s othersSample) bool {
		for i, v := range s.serving {
			if i != failed && !v {
				return false
			}
		}
		return true
	}
	i := sort.Search(len(w.samples), func(i int) bool { return w.samples[i].at.After(from) })
	j := sort.Search(len(w.samples), func(i int) bool { return w.samples[i].at.After(to) })
	if i == 0 || j == len(w.samples) {
		return false
	}
	for _, s := range w.samples[i-1 : j+1] {
		if !ok(s) {
			return false
		}
	}
	return true
}

// around describes the samples from just before from to just after to,
// relative to origin: for the log of a request judged still routed.
func (w *othersWatch) around(origin, from, to time.Time) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	for _, s := range w.samples {
		if s.at.Before(from.Add(-300*time.Millisecond)) || s.at.After(to.Add(300*time.Millisecond)) {
			continue
		}
		fmt.Fprintf(&b, " %.2fs%v", s.at.Sub(origin).Seconds(), s.serving)
	}
	return b.String()
}

// startGalera starts a 3-node cluster in dir, creates the service's user
// and serves a wsrep-aware check of each node.
func startGalera(t *testing.T, dir string) *galera {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()
	c, err := mariadbd.StartCluster(ctx, dir, 3,
		"--max-connections=400",
		// Durable commits, as on the single server.
		"--innodb-flush-log-at-trx-commit=1")
	if err != nil {
		t.Fatal(err)
	}
	g := &galera{dir: dir, cluster: c}
	t.Cleanup(g.close)
	t.Logf("Galera cluster of 3 started in %s", time.Since(began).Round(100*time.Millisecond))
	for i := range c.Size() {
		db, err := nodeRoot(c.Addr(i), "")
		if err != nil {
			t.Fatal(err)
		}
		g.admins = append(g.admins, db)
		cs, err := haproxy.ServeCheck(&haproxy.Check{DB: db.DB})
		if err != nil {
			t.Fatal(err)
		}
		g.checks = append(g.checks, cs)
	}
	if _, err := g.admins[0].Exec(fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", svcUser, svcPassword)); err != nil {
		t.Fatalf("create the service's user: %v", err)
	}
	return g
}

func (g *galera) close() {
	for _, cs := range g.checks {
		cs.Close()
	}
	for _, db := range g.admins {
		db.Close()
	}
	g.cluster.Close()
}

// nodeRoot opens a pool as root on one node. Its reads wait until the
// node has applied every commit the cluster made before
// (wsrep_sync_wait), so that a check reads what any node committed.
func nodeRoot(addr, name string) (*sqlx.DB, error) {
	c := dsn(addr, "root", "", name)
	c.Params = map[string]string{"wsrep_sync_wait": "1"}
	c.ReadTimeout, c.WriteTimeout = 30*time.Second, 30*time.Second
	connector, err := mysql.NewConnector(c)
	if err != nil {
		return nil, err
	}
	db := sqlx.NewDb(sql.OpenDB(connector), "mysql")
	db.SetMaxOpenConns(4)
	return db, nil
}

// waitServing waits until every node is Synced in a primary component of
// them all.
func (g *galera) waitServing() error {
	for i := range g.cluster.Size() {
		if err := g.cluster.WaitServing(context.Background(), i); err != nil {
			return err
		}
	}
	return nil
}

// conflictStats returns, per node, wsrep_local_cert_failures and
// wsrep_local_bf_aborts, for the test log.
func (g *galera) conflictStats() string {
	var parts []string
	for i, db := range g.admins {
		var cert, bf int64
		db.QueryRow(`SELECT
			SUM(IF(VARIABLE_NAME = 'WSREP_LOCAL_CERT_FAILURES', VARIABLE_VALUE, 0)),
			SUM(IF(VARIABLE_NAME = 'WSREP_LOCAL_BF_ABORTS', VARIABLE_VALUE, 0))
			FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN ('WSREP_LOCAL_CERT_FAILURES', 'WSREP_LOCAL_BF_ABORTS')`).Scan(&cert, &bf)
		parts = append(parts, fmt.Sprintf("node%d cert failures %d, BF aborts %d", i+1, cert, bf))
	}
	return strings.Join(parts, "; ")
}

// conflicts returns, per node, the transactions certification failed
// (wsrep_local_cert_failures) and the local ones a replicated one aborted
// (wsrep_local_bf_aborts): the cluster's side of certification conflicts.
func (g *galera) conflicts() []int64 {
	var l []int64
	for _, db := range g.admins {
		var n int64
		db.QueryRow(`SELECT SUM(VARIABLE_VALUE) FROM information_schema.GLOBAL_STATUS
			WHERE VARIABLE_NAME IN ('WSREP_LOCAL_CERT_FAILURES', 'WSREP_LOCAL_BF_ABORTS')`).Scan(&n) // 0 on a node that is down
		l = append(l, n)
	}
	return l
}

// conflictsSince returns the conflicts counted since before (a node that
// restarted counts from 0 again).
func (g *galera) conflictsSince(before []int64) int64 {
	var n int64
	for i, v := range g.conflicts() {
		if v >= before[i] {
			n += v - before[i]
		} else {
			n += v
		}
	}
	return n
}

// proxy starts HAProxy in front of every node, with the wsrep-aware check.
func (g *galera) proxy(t *testing.T, balance haproxy.Balance) *haproxy.Proxy {
	t.Helper()
	var backends []haproxy.Backend
	for i := range g.cluster.Size() {
		backends = append(backends, haproxy.Backend{Name: fmt.Sprintf("node%d", i+1), Addr: g.cluster.Addr(i), CheckAddr: g.checks[i].Addr()})
	}
	p, err := haproxy.Start(context.Background(), t.TempDir(), haproxy.Config{Backends: backends, Balance: balance})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	for _, b := range backends {
		if err := p.WaitState(context.Background(), b.Name, "UP", 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// galeraScenario is one fault on the cluster.
type galeraScenario struct {
	name string
	// nodes are the nodes the instances connect to directly, one
	// instance each; without them, instances connect through HAProxy.
	nodes     []int
	instances int // through HAProxy
	balance   haproxy.Balance
	accounts  int // default 8; a few make hot rows
	// durable: the load publishes durable requests (runDurable) to
	// instances on nodes.
	durable bool
	fault   func(g *galera, h *harness) error
}

// killNode kills node i with -9, leaves it down for d, restarts it and
// waits until it is Synced again: the fault ends there.
func killNode(i int, d time.Duration) func(*galera, *harness) error {
	return func(g *galera, h *harness) error {
		if err := g.cluster.Kill(i); err != nil {
			return err
		}
		g.unhealthy, g.failed = time.Now(), i
		sleep(d)
		began := time.Now()
		err := g.cluster.Restart(context.Background(), i)
		h.t.Logf("node %d restarted and Synced in %s (%s)", i+1, time.Since(began).Round(100*time.Millisecond), g.transfer(i))
		return err
	}
}

// isolateNode cuts node i off the others for d (it leaves the primary
// component about 6 s later, evicted), heals it and waits until it is
// Synced again: the fault ends there.
func isolateNode(i int, d time.Duration) func(*galera, *harness) error {
	return func(g *galera, h *harness) error {
		ctx := context.Background()
		if err := g.cluster.Isolate(ctx, i, true); err != nil {
			return err
		}
		began := time.Now()
		for time.Since(began) < d {
			if s, err := g.cluster.State(ctx, i); err == nil && s.ClusterStatus != "Primary" {
				g.unhealthy, g.failed = time.Now(), i
				h.t.Logf("node %d left the primary component %s after it was isolated", i+1, g.unhealthy.Sub(began).Round(100*time.Millisecond))
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if g.unhealthy.IsZero() {
			h.t.Logf("node %d is still in the primary component after %s isolated", i+1, d)
		}
		sleep(d - time.Since(began))
		if err := g.cluster.Isolate(ctx, i, false); err != nil {
			return err
		}
		healed := time.Now()
		err := g.cluster.WaitServing(ctx, i)
		h.t.Logf("node %d healed and Synced in %s (%s)", i+1, time.Since(healed).Round(100*time.Millisecond), g.transfer(i))
		return err
	}
}

// transfer says how node i last received the state: the last line of
// its error log about a state transfer.
func (g *galera) transfer(i int) string {
	lines := strings.Split(g.cluster.Node(i).ErrLog(), "\n")
	for j := len(lines) - 1; j >= 0; j-- {
		if l := lines[j]; strings.Contains(l, "IST received") || strings.Contains(l, "SST received") || strings.Contains(l, "SST succeeded") {
			return strings.TrimSpace(l[strings.Index(l, "WSREP"):])
		}
	}
	return "no state transfer in the log's tail"
}

// hotRows is no fault but the load itself: on a few accounts, through
// two nodes, its transfers conflict.
func hotRows(d time.Duration) func(*galera, *harness) error {
	return func(*galera, *harness) error { sleep(d); return nil }
}

func galeraScenarios(md mode) []galeraScenario {
	down := md.outage
	// Isolated for longer than the eviction (about 6 s) and leaveWithin,
	// so that the instances must stop using the node for a while.
	isolated := 6*time.Second + leaveWithin + 2*md.outage
	l := []galeraScenario{
		{name: "Galera: node killed with -9, instances on every node", nodes: []int{0, 1, 2}, fault: killNode(0, down)},
		{name: "Galera: node isolated, instances on every node", nodes: []int{0, 1, 2}, fault: isolateNode(0, isolated)},
		// A message a failing node's instance held is redelivered to
		// another node's instance: its outcome row, written in the same
		// transaction as the transfer, certifies once across the cluster.
		{name: "Galera: node killed with -9, durable requests, instances on every node", nodes: []int{0, 1, 2}, durable: true, fault: killNode(0, down)},
		{name: "Galera: hot rows written through two nodes", nodes: []int{0, 1}, accounts: 2, fault: hotRows(2 * md.outage)},
		{name: "Galera behind HAProxy (single writer): writer killed with -9", instances: 2, balance: haproxy.SingleWriter, fault: killNode(0, down)},
		{name: "Galera behind HAProxy (round-robin): node isolated", instances: 2, balance: haproxy.RoundRobin, fault: isolateNode(1, isolated)},
	}
	if md.name == full.name {
		l = append(l,
			galeraScenario{name: "Galera behind HAProxy (single writer): writer isolated", instances: 2, balance: haproxy.SingleWriter, fault: isolateNode(0, isolated)},
			galeraScenario{name: "Galera behind HAProxy (round-robin): node killed with -9", instances: 2, balance: haproxy.RoundRobin, fault: killNode(2, down)},
			galeraScenario{name: "Galera behind HAProxy (round-robin): hot rows", instances: 2, balance: haproxy.RoundRobin, accounts: 2, fault: hotRows(2 * md.outage)},
		)
	}
	return l
}

// leaveWithin is how soon after a node stops serving (killed, or outside
// the primary component) requests must stop reaching it: the service's
// readiness hysteresis (an instance whose database cannot serve leaves
// the queue group: up to a second until its next health check notices,
// then DBAPI_PAUSE_AFTER, 2 s), or the proxy's health checks (fall 2 x
// 500 ms), with room to spare. From then until the node is back, a request is answered
// by an instance with a healthy node: no 503, no 500, no "no responders".
const leaveWithin = 4 * time.Second

// galeraResult is a result, the cluster's certification conflicts and
// the requests answered unavailable while the node was down for longer
// than leaveWithin.
type galeraResult struct {
	*result
	conflicts   int64
	stillRouted int
	othersDown  int  // requests not judged: another node was not serving
	durable     bool // durable requests: pulled, not routed
}

// stillRouted returns the requests sent from leaveWithin after the node
// stopped serving until the fault's end, while the other nodes served
// (othersServed, over the request's whole life: a request retries a node
// that cannot serve until its attempts run out, so it fails on what the
// nodes did until it was answered, not only on what they did when it was
// sent), that were answered 503, 500 (other than commit_outcome_unknown)
// or "no responders": requests that still reached an instance, or a node,
// that could not serve them. 504 is not counted: the cluster's eviction
// stall delays every node. skipped counts the requests of the window that
// were not judged because another node was not serving during their life.
func stillRouted(l *load, from, to time.Time, othersServed func(from, to time.Time) bool) (routed []*request, skipped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.reqs {
		if r.sent.Before(from) || !r.sent.Before(to) {
			continue
		}
		end := r.done
		if end.IsZero() {
			end = r.sent.Add(l.wait)
		}
		if !othersServed(r.sent, end) {
			skipped++
			continue
		}
		switch {
		case r.out == gotNoResponder,
			r.out == gotError && r.status == 503,
			r.out == gotUnknown && r.code != "commit_outcome_unknown":
			routed = append(routed, r)
		}
	}
	return routed, skipped
}

// TestGaleraFaults runs every Galera fault under load and checks every
// request.
func TestGaleraFaults(t *testing.T) {
	requireSuite(t)
	if err := requireGalera(); err != nil {
		prereq.Missing(t, "the Galera faults cannot run: %v", err)
	}
	md := currentMode()
	md.timeout = galeraTimeout
	md.grace = max(md.grace, galeraTimeout+2*time.Second)
	dir := filepath.Join(suite.tmp, "galera")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	g := startGalera(t, dir)
	var results []galeraResult
	for _, sc := range galeraScenarios(md) {
		t.Run(sc.name, func(t *testing.T) {
			if err := g.waitServing(); err != nil {
				t.Fatalf("the cluster is not whole before the fault: %v", err)
			}
			run := runGaleraScenario
			if sc.durable {
				run = runGaleraDurable
			}
			if res := run(t, md, g, sc); res.result != nil {
				results = append(results, res)
			}
		})
	}
	if err := writeGaleraReport(md, results); err != nil {
		t.Errorf("report: %v", err)
	}
}

// requireGalera says why a Galera cluster behind HAProxy cannot run here.
func requireGalera() error {
	if err := mariadbd.RequireGalera(); err != nil {
		return err
	}
	_, err := haproxy.Binary()
	return err
}

// newGaleraHarness is newHarness on the cluster: the fault's database and
// grants made through node 1, the checks' pool on node 1.
func newGaleraHarness(t *testing.T, md mode, g *galera) *harness {
	h := newHarnessOn(t, md, g.admins[0], func(name string) (*sqlx.DB, error) { return nodeRoot(g.cluster.Addr(0), name) })
	h.conns = func() ([]int64, error) {
		var all []int64
		for _, db := range g.admins {
			ids, err := h.connsOn(db)
			if err != nil {
				return nil, err
			}
			all = append(all, ids...)
		}
		return all, nil
	}
	return h
}

// migrate applies the service's migrations through node 1 (bank
// migrate) and waits until every node has applied them. An instance
// would apply them itself, but behind a round-robin proxy its next
// connection, which checks the declared operations against the tables,
// can reach a node that has not applied the CREATE TABLE yet: the
// instance then exits at start ("Table ... doesn't exist"; seen once).
func (g *galera) migrate(h *harness) error {
	cmd := exec.Command(suite.bin, "migrate")
	cmd.Env = append(append(cleanEnv(), h.env...), "DBAPI_MYSQL_DSN="+dsn(g.cluster.Addr(0), svcUser, svcPassword, h.dbName).FormatDSN())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("bank migrate: %w\n%s", err, out)
	}
	for i, db := range g.admins {
		// wsrep_sync_wait (nodeRoot): the read waits for what the
		// cluster committed before it.
		var n int
		if err := db.Get(&n, "SELECT COUNT(*) FROM "+h.dbName+".accounts"); err != nil {
			return fmt.Errorf("node %d after the migrations: %w", i+1, err)
		}
	}
	return nil
}

// runGaleraScenario runs one fault on the cluster and checks its
// requests, as runScenario does on the single server.
func runGaleraScenario(t *testing.T, md mode, g *galera, sc galeraScenario) galeraResult {
	h := newGaleraHarness(t, md, g)
	var addrs []string
	for _, i := range sc.nodes {
		addrs = append(addrs, g.cluster.Addr(i))
	}
	if len(sc.nodes) == 0 {
		p := g.proxy(t, sc.balance)
		for range max(sc.instances, 1) {
			addrs = append(addrs, p.Addr())
		}
	}
	if err := g.migrate(h); err != nil {
		t.Fatal(err)
	}
	for _, addr := range addrs {
		if _, err := h.startInstance("DBAPI_MYSQL_DSN=" + dsn(addr, svcUser, svcPassword, h.dbName).FormatDSN()); err != nil {
			t.Fatal(err)
		}
	}
	accounts := openAccounts(t, h.db, orDefault(sc.accounts, 8))

	g.unhealthy = time.Time{}
	watch := g.watchNodes()
	conflictsBefore := g.conflicts()
	t.Logf("before: %s", g.conflictStats())
	fault := func() error {
		err := sc.fault(g, h)
		h.ended()
		watch.close()
		return err
	}
	wholeAgain := func() {
		if err := g.waitServing(); err != nil {
			t.Fatalf("the cluster is not whole after the fault: %v", err)
		}
	}
	res, l := runLoad(t, md, h, accounts, sc.name, fault, wholeAgain)
	conflicts := g.conflictsSince(conflictsBefore)
	routed, skipped := 0, 0
	if !g.unhealthy.IsZero() {
		from := g.unhealthy.Add(leaveWithin)
		var judged []*request
		judged, skipped = stillRouted(l, from, h.faultEnd, func(sent, done time.Time) bool { return watch.othersServed(g.failed, sent, done) })
		routed = len(judged)
		if skipped > 0 {
			t.Logf("%d requests of the window were answered after another node had stopped serving during their life: not judged", skipped)
		}
		if routed > 0 {
			t.Errorf("%d requests sent from %s after node %d stopped serving until it was back (%.1f s), while the others served, "+
				"were answered unavailable: the instance or the proxy kept routing to it", routed, leaveWithin, g.failed+1, h.faultEnd.Sub(from).Seconds())
			for _, r := range judged {
				t.Logf("request of %d cents: sent %.2fs, answered %.2fs after node %d stopped serving: %d %s %s; samples (serving per node):%s",
					r.cents, r.sent.Sub(g.unhealthy).Seconds(), r.done.Sub(g.unhealthy).Seconds(), g.failed+1, r.status, r.code, r.transErr,
					watch.around(g.unhealthy, r.sent, r.done))
			}
		}
	}
	if s := noReplies(l); s != "" {
		t.Logf("%s; node %d stopped serving %.2fs and the fault ended %.2fs after the load began",
			s, g.failed+1, g.unhealthy.Sub(l.began).Seconds(), h.faultEnd.Sub(l.began).Seconds())
	}
	t.Logf("after: %s", g.conflictStats())
	for _, in := range h.instances {
		if causes := errorCauses(in); len(causes) > 0 {
			t.Logf("%s: failed requests by cause: %s", in.name, errorSummary(causes))
		}
	}

	t.Logf("%d requests in %s: %d acknowledged, errors: %s; %d unknown resolved (%d applied); %d certification conflicts; slowest reply %s; recovery %s",
		res.sent, res.duration.Round(100*time.Millisecond), res.acked, errorSummary(res.errors),
		res.unknown, res.unknownApplied, conflicts, res.slowest.Round(time.Millisecond), res.recovery.Round(time.Millisecond))
	for _, p := range res.problems {
		t.Errorf("broken promise: %s", p)
	}
	if !res.recovered {
		t.Errorf("no request succeeded within %s after the fault ended", md.recovery)
	}
	if t.Failed() {
		for _, in := range h.instances {
			t.Logf("%s log:\n%s", in.name, in.tail())
		}
	}
	return galeraResult{result: res, conflicts: conflicts, stillRouted: routed, othersDown: skipped}
}

// runGaleraDurable runs one fault on the cluster under a load of
// durable requests (runDurable), an instance on each of sc.nodes.
func runGaleraDurable(t *testing.T, md mode, g *galera, sc galeraScenario) galeraResult {
	h := newGaleraHarness(t, md, g)
	if err := g.migrate(h); err != nil {
		t.Fatal(err)
	}
	start := func() {
		for _, i := range sc.nodes {
			if _, err := h.startInstance("DBAPI_MYSQL_DSN=" + dsn(g.cluster.Addr(i), svcUser, svcPassword, h.dbName).FormatDSN()); err != nil {
				t.Fatal(err)
			}
		}
	}
	g.unhealthy = time.Time{}
	conflictsBefore := g.conflicts()
	res := runDurable(t, md, h, sc.name, start, func() error { return sc.fault(g, h) })
	if err := g.waitServing(); err != nil {
		t.Fatalf("the cluster is not whole after the fault: %v", err)
	}
	conflicts := g.conflictsSince(conflictsBefore)
	t.Logf("%d certification conflicts", conflicts)
	for _, in := range h.instances {
		if causes := errorCauses(in); len(causes) > 0 {
			t.Logf("%s: failed requests by cause: %s", in.name, errorSummary(causes))
		}
	}
	return galeraResult{result: res, conflicts: conflicts, durable: true}
}

// noReplies describes the requests that got no reply: when they were
// sent, from the load's start, and why the load gave up on them.
func noReplies(l *load) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var sent []float64
	why := map[string]int{}
	for _, r := range l.reqs {
		if r.out == gotNoReply {
			sent = append(sent, r.sent.Sub(l.began).Seconds())
			why[r.transErr]++
		}
	}
	if len(sent) == 0 {
		return ""
	}
	slices.Sort(sent)
	return fmt.Sprintf("%d requests got no reply, sent from %.2fs to %.2fs after the load began (%v)", len(sent), sent[0], sent[len(sent)-1], why)
}

// errorCauses counts the instance's failed requests by code and error
// (numbers of 4 digits or more, such as ids, masked), from its whole log.
func errorCauses(in *instance) map[string]int {
	b, _ := os.ReadFile(in.log)
	m := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		var e struct {
			Msg, Code, Err string
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.Msg != "request failed" {
			continue
		}
		m[e.Code+": "+longNumber.ReplaceAllString(e.Err, "N")]++
	}
	return m
}

var longNumber = regexp.MustCompile(`[0-9]{4,}`)

// orDefault returns v, or def when v is 0.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// writeGaleraReport writes the Galera table to DBAPI_FAULTS_GALERA_OUT
// (default out/faults-galera.md in this folder) and prints it.
func writeGaleraReport(md mode, results []galeraResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Fault suite on a 3-node MariaDB Galera cluster (%s run), %s, %d cores, %s/%s: Debian's galera-4, "+
		"every node on this machine; HAProxy with a wsrep-aware HTTP check where named. Each fault runs under a load of %d clients "+
		"sending accounts.transfer with unique amounts; DBAPI_TIMEOUT=%s.\n\n",
		md.name, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, md.clients, md.timeout)
	b.WriteString("| fault | load | acknowledged | lost | duplicated | applied despite an error | unknown outcomes resolved | error replies | slowest reply | recovery | certification conflicts | still routed to the failed node |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|---|---|--:|--:|--:|--:|\n")
	for _, r := range results {
		routed := fmt.Sprint(r.stillRouted)
		if r.durable {
			routed = "– (pulled)"
		}
		if r.othersDown > 0 {
			routed += fmt.Sprintf(" (%d not judged)", r.othersDown)
		}
		fmt.Fprintf(&b, "| %s | %d | %s |\n", strings.Join(r.result.cells(r.result.limit(md)), " | "), r.conflicts, routed)
	}
	b.WriteString("\nColumns as in the single-server table. Recovery: from the end of the fault (the node restarted or healed " +
		"and Synced again) to the first success of a request sent after it. Certification conflicts: the cluster's own count " +
		"(wsrep_local_cert_failures + wsrep_local_bf_aborts over the nodes) during the row; each is a transaction the service " +
		"had to run again. Still routed to the failed node: requests sent from " + leaveWithin.String() + " after the node stopped serving " +
		"(killed, or seen outside the primary component) until it was back that were answered 503, 500 (other than " +
		"commit_outcome_unknown) or \"no responders\" while every other node served; the promise is 0. Not judged: requests of that " +
		"window during whose life (from sending to reply) another node was not serving either (every node seen every 100 ms); " +
		"durable requests are pulled by the instances that can serve, not routed. The durable row's columns are those of the " +
		"single-server durable row.\n")
	out := os.Getenv("DBAPI_FAULTS_GALERA_OUT")
	if out == "" {
		out = filepath.Join("out", "faults-galera.md")
	}
	fmt.Print("\n" + b.String())
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

// stillRouted must count, among the requests sent inside the window,
// exactly the 503s, the 500s other than commit_outcome_unknown and the
// "no responders", and judge none that lived while another node was not
// serving.
func TestStillRouted(t *testing.T) {
	t0 := time.Now()
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	req := func(sent, done float64, out outcome, status int, code string) *request {
		return &request{sent: at(sent), done: at(done), out: out, status: status, code: code}
	}
	l := &load{wait: time.Second, reqs: []*request{
		req(0.5, 0.6, gotError, 503, ""),                       // before the window
		req(1, 1.1, gotError, 503, ""),                         // counted
		req(2, 2.1, gotUnknown, 500, "internal"),               // counted
		req(3, 3.1, gotNoResponder, 0, ""),                     // counted
		req(4, 4.1, gotUnknown, 500, "commit_outcome_unknown"), // not: may have been applied
		req(5, 5.1, gotError, 504, ""),                         // not: the eviction stall
		req(6, 6.1, gotSuccess, 0, ""),                         // not
		req(7, 7.1, gotNoReply, 0, ""),                         // not
		req(8, 8.1, gotError, 503, ""),                         // at the end: after the window
	}}
	all := func(time.Time, time.Time) bool { return true }
	if got, skipped := stillRouted(l, at(1), at(8), all); len(got) != 3 || skipped != 0 {
		t.Errorf("stillRouted = %d, %d skipped; want 3, 0", len(got), skipped)
	}
	// While another node did not serve (from 2.05 s to 2.08 s), the 500
	// that lived from 2 s to 2.1 s is not judged.
	others := func(from, to time.Time) bool { return to.Before(at(2.05)) || from.After(at(2.08)) }
	if got, skipped := stillRouted(l, at(1), at(8), others); len(got) != 2 || skipped != 1 {
		t.Errorf("stillRouted = %d, %d skipped; want 2, 1", len(got), skipped)
	}
	// A request with no reply is judged until the load's wait.
	l.reqs = []*request{{sent: at(2), out: gotNoResponder}}
	if got, skipped := stillRouted(l, at(1), at(8), others); len(got) != 0 || skipped != 1 {
		t.Errorf("stillRouted of a request with no reply = %d, %d skipped; want 0, 1", len(got), skipped)
	}
}

// othersServed judges a request's life by every sample from the one
// before its sending to the one after its reply, ignoring the failed
// node.
func TestOthersServed(t *testing.T) {
	t0 := time.Now()
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	w := &othersWatch{samples: []othersSample{
		{at(0), []bool{false, true, true}},
		{at(1), []bool{false, true, true}},
		{at(2), []bool{false, false, true}}, // node 2 out for a moment
		{at(3), []bool{true, true, true}},
		{at(4), []bool{true, true, true}},
	}}
	for _, c := range []struct {
		from, to float64
		want     bool
	}{
		{-1, 0.5, false}, // no sample before
		{0.5, 0.7, true},
		{0.5, 1.5, false}, // the sample after it saw node 2 out
		{1.5, 1.6, false},
		{2.5, 2.6, false},
		{0.2, 3.5, false}, // sent and answered while node 2 served, out between
		{3.2, 3.5, true},
		{3.5, 4.5, false}, // no sample after
	} {
		if got := w.othersServed(0, at(c.from), at(c.to)); got != c.want {
			t.Errorf("othersServed(node 1 failed, %.1f s to %.1f s) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
	if w.othersServed(1, at(0.5), at(0.6)) {
		t.Error("with node 2 the failed one, node 1 is down at 0.5 s: not judged")
	}
}
