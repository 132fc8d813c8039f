//go:build linux

package faults

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/internal/mariadbd"
	"github.com/dbapi-dev/dbapi/internal/prereq"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// mode holds the sizes of a run: short (go test, make test) or full
// (DBAPI_FAULTS=full, make faults).
type mode struct {
	name     string
	clients  int           // load clients
	pause    time.Duration // between a client's requests
	warm     time.Duration // load before the fault
	outage   time.Duration // how long a fault lasts
	after    time.Duration // load after the service answers again
	timeout  time.Duration // DBAPI_TIMEOUT
	grace    time.Duration // DBAPI_GRACE
	recovery time.Duration // the promise: a request succeeds within this after the fault ends
}

var (
	short = mode{name: "short", clients: 8, pause: 5 * time.Millisecond, warm: 700 * time.Millisecond,
		outage: 1500 * time.Millisecond, after: 500 * time.Millisecond,
		timeout: 3 * time.Second, grace: 5 * time.Second, recovery: 10 * time.Second}
	full = mode{name: "full", clients: 32, pause: 2 * time.Millisecond, warm: 3 * time.Second,
		outage: 5 * time.Second, after: 5 * time.Second,
		timeout: 3 * time.Second, grace: 10 * time.Second, recovery: 10 * time.Second}
)

func currentMode() mode {
	if os.Getenv("DBAPI_FAULTS") == "full" {
		return full
	}
	return short
}

// The servers and the binary every fault shares, made once and torn down
// in TestMain.
var suite struct {
	once      sync.Once // sets up the rest, at the first test that needs it
	err       error     // why the suite cannot run here
	tmp       string
	bin       string
	db        *mariadb
	nats      *natsServer
	mysqlLink *link
	natsLink  *link
	admin     *sqlx.DB // root, straight to mariadbd
}

func TestMain(m *testing.M) {
	code := func() int {
		var err error
		if suite.tmp, err = os.MkdirTemp("", "dbapi-faults-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(suite.tmp)
		defer tearDown()
		return m.Run()
	}()
	os.Exit(code)
}

func setUp() error {
	if _, _, err := mariadbd.Binaries(); err != nil {
		return err
	}
	var err error
	if suite.bin, err = buildBank(suite.tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(suite.tmp+"/mariadb", 0o755); err != nil {
		return err
	}
	if suite.db, err = startMariaDB(suite.tmp + "/mariadb"); err != nil {
		return err
	}
	if suite.admin, err = suite.db.root(""); err != nil {
		return err
	}
	suite.admin.SetMaxOpenConns(4)
	if suite.nats, err = startNATS(suite.tmp + "/jetstream"); err != nil {
		return err
	}
	if suite.mysqlLink, err = newLink("mysql", suite.db.Addr()); err != nil {
		return err
	}
	if suite.natsLink, err = newLink("nats", suite.nats.addr()); err != nil {
		return err
	}
	return nil
}

func tearDown() {
	if suite.mysqlLink != nil {
		suite.mysqlLink.stop()
	}
	if suite.natsLink != nil {
		suite.natsLink.stop()
	}
	if suite.nats != nil {
		suite.nats.stop()
	}
	if suite.admin != nil {
		suite.admin.Close()
	}
	if suite.db != nil {
		suite.db.Stop()
	}
}

// requireSuite skips (outside CI) or fails (under CI) when the servers
// could not be set up.
func requireSuite(t *testing.T) {
	t.Helper()
	suite.once.Do(func() { suite.err = setUp() })
	if suite.err == nil {
		return
	}
	prereq.Missing(t, "the fault suite cannot run: %v", suite.err)
}

// harness is one fault's world: a fresh database, a subject prefix of its
// own, the running instances and the load.
type harness struct {
	t      *testing.T
	mode   mode
	dbName string
	prefix string
	env    []string
	db     *sqlx.DB // root on the fault's database, straight to mariadbd

	mu        sync.Mutex
	instances []*instance
	started   int
	faultEnd  time.Time

	js     jetstream.JetStream // durable scenarios only
	stream string

	// conns, when set, lists the service's connections instead of
	// suite.admin (a fault on servers of its own: galera_test.go).
	conns func() ([]int64, error)
}

func newHarness(t *testing.T, md mode) *harness {
	return newHarnessOn(t, md, suite.admin, suite.db.root)
}

// newHarnessOn is newHarness on another server: admin creates the fault's
// database and grants, open opens root's pool on it for the checks.
func newHarnessOn(t *testing.T, md mode, admin *sqlx.DB, open func(name string) (*sqlx.DB, error)) *harness {
	var b [4]byte
	rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	h := &harness{t: t, mode: md, dbName: "faults_" + suffix, prefix: "faults" + suffix}
	for _, q := range []string{
		"CREATE DATABASE " + h.dbName,
		fmt.Sprintf("GRANT ALL ON %s.* TO '%s'@'%%'", h.dbName, svcUser),
	} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() { admin.Exec("DROP DATABASE IF EXISTS " + h.dbName) })
	var err error
	if h.db, err = open(h.dbName); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.db.Close() })
	svcDSN := dsn(suite.mysqlLink.addr(), svcUser, svcPassword, h.dbName).FormatDSN()
	h.env = []string{
		"DBAPI_MYSQL_DSN=" + svcDSN,
		"DBAPI_NATS_URL=nats://" + suite.natsLink.addr(),
		"DBAPI_PREFIX=" + h.prefix,
		"DBAPI_QUEUE_GROUP=" + h.prefix,
		"DBAPI_POOL_SIZE=8",
		"DBAPI_TIMEOUT=" + md.timeout.String(),
		"DBAPI_GRACE=" + md.grace.String(),
		"DBAPI_CONNECT_TIMEOUT=1m",
		"DBAPI_LOG_LEVEL=info", // startInstance waits for the "serving" line
	}
	t.Cleanup(h.stopAll)
	return h
}

// start starts one more instance of the service.
func (h *harness) start() *instance {
	h.t.Helper()
	in, err := h.startInstance()
	if err != nil {
		h.t.Fatal(err)
	}
	return in
}

// startInstance starts one more instance of the service, with env
// (DBAPI_* settings) over the harness's; unlike start it may be called
// from any goroutine.
func (h *harness) startInstance(env ...string) (*instance, error) {
	h.mu.Lock()
	h.started++
	// The prefix's suffix tells apart the harnesses of one test.
	name := fmt.Sprintf("%s-%s-%d", h.t.Name(), strings.TrimPrefix(h.prefix, "faults"), h.started)
	h.mu.Unlock()
	in, err := startInstance(suite.bin, suite.tmp, strings.ReplaceAll(name, "/", "_"), append(slices.Clip(h.env), env...))
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.instances = append(h.instances, in)
	h.mu.Unlock()
	return in, nil
}

// running returns the instances that have not exited.
func (h *harness) running() []*instance {
	h.mu.Lock()
	defer h.mu.Unlock()
	var l []*instance
	for _, in := range h.instances {
		if !in.exited() {
			l = append(l, in)
		}
	}
	return l
}

// stopAll stops every instance with SIGTERM, as an operator would.
func (h *harness) stopAll() {
	for _, in := range h.running() {
		if err := in.term(h.mode.grace + 10*time.Second); err != nil {
			h.t.Errorf("stop: %v", err)
		}
	}
}

// ended marks the end of the fault: recovery is measured from here. A
// fault that does not call it ends when its function returns.
func (h *harness) ended() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.faultEnd.IsZero() {
		h.faultEnd = time.Now()
	}
}

// serviceConns returns the ids of the service's connections to MariaDB:
// h.conns's, else those on the suite's server.
func (h *harness) serviceConns() ([]int64, error) {
	if h.conns != nil {
		return h.conns()
	}
	return h.connsOn(suite.admin)
}

// connsOn returns the ids of the service's connections to its database on
// the server admin is connected to.
func (h *harness) connsOn(admin *sqlx.DB) ([]int64, error) {
	var ids []int64
	err := admin.Select(&ids, "SELECT id FROM information_schema.PROCESSLIST WHERE user = ? AND db = ?", svcUser, h.dbName)
	return ids, err
}

// waitNoConns waits until the service holds no connection to its
// database, so nothing can commit while the results are read.
func (h *harness) waitNoConns() {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ids, err := h.serviceConns()
		if err == nil && len(ids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Logf("the service's connections are still open after it stopped: %v (err %v)", ids, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sleep waits d; faults use it for how long they last.
func sleep(d time.Duration) { time.Sleep(d) }

// scenario is one fault.
type scenario struct {
	name      string
	instances int // how many instances serve (default 1)
	// everyReply: every request gets a reply (a graceful stop answers
	// what it took in; what it did not take gets "no responders").
	everyReply bool
	// errorCodes, when set, are the only error replies allowed ("503
	// unavailable").
	errorCodes []string
	// durable: the load publishes durable requests to JetStream instead
	// of sending request-reply (see durable_test.go).
	durable bool
	// fault injects the fault and returns once it is over (or calls
	// h.ended() at its end, if it does more after).
	fault func(h *harness) error
}

// killEvery runs query (KILL or KILL QUERY) on every connection the
// service holds, every 300ms for d.
func killEvery(h *harness, verb string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		ids, err := h.serviceConns()
		if err != nil {
			return err
		}
		for _, id := range ids {
			suite.admin.Exec(fmt.Sprintf("%s %d", verb, id)) // the connection may be gone already
		}
		time.Sleep(300 * time.Millisecond)
	}
	return nil
}

// toxic adds toxics to a link for d, then removes them.
func toxic(l *link, d time.Duration, typ, attrs string, streams ...string) error {
	for _, s := range streams {
		if err := l.add(typ+"_"+s, typ, s, attrs); err != nil {
			l.clear()
			return err
		}
	}
	sleep(d)
	l.clear()
	return nil
}

func scenarios(md mode) []scenario {
	d := md.outage
	stall := max(d, md.timeout+time.Second)
	return []scenario{
		{name: "MariaDB stopped and restarted", fault: func(h *harness) error {
			if err := suite.db.Stop(); err != nil {
				return err
			}
			sleep(d)
			return suite.db.restart()
		}},
		{name: "MariaDB killed with -9", fault: func(h *harness) error {
			if err := suite.db.Kill(); err != nil {
				return err
			}
			sleep(d / 3)
			return suite.db.restart()
		}},
		{name: "NATS restarted", fault: func(h *harness) error {
			suite.nats.stop()
			sleep(d / 3)
			return suite.nats.start()
		}},
		{name: "one of two instances killed with -9", instances: 2, fault: func(h *harness) error {
			h.running()[0].kill()
			return nil
		}},
		{name: "SIGTERM under load, then a new instance", everyReply: true, fault: func(h *harness) error {
			if err := h.running()[0].term(h.mode.grace + 10*time.Second); err != nil {
				return err
			}
			h.ended()
			h.start()
			return nil
		}},
		{name: "connections killed every 0.3 s (KILL)", fault: func(h *harness) error {
			return killEvery(h, "KILL", d)
		}},
		{name: "queries killed every 0.3 s (KILL QUERY)", fault: func(h *harness) error {
			return killEvery(h, "KILL QUERY", d)
		}},
		// A read-only server refuses every write: each is answered 503
		// (retryable, nothing committed), never a 500. (504s come from
		// SET GLOBAL read_only, which waits for a global lock.)
		{name: "MariaDB read-only", errorCodes: []string{"503 unavailable", "504 timeout"}, fault: func(h *harness) error {
			if _, err := suite.admin.Exec("SET GLOBAL read_only = 1"); err != nil {
				return err
			}
			sleep(d)
			_, err := suite.admin.Exec("SET GLOBAL read_only = 0")
			return err
		}},
		{name: "MySQL link: 100 ms latency", fault: func(h *harness) error {
			return toxic(suite.mysqlLink, d, "latency", `{"latency":50,"jitter":20}`, "upstream", "downstream")
		}},
		// A stall holds every byte both ways for longer than
		// DBAPI_TIMEOUT, so statements and COMMITs in flight are caught
		// in it. It then either heals (the held bytes go on, as TCP
		// retransmits after a partition) or is cut (the bytes are
		// dropped and the stalled connections closed).
		{name: "MySQL link: stalled, then healed", fault: func(h *harness) error {
			return toxic(suite.mysqlLink, stall, "latency", `{"latency":3600000}`, "upstream", "downstream")
		}},
		{name: "MySQL link: stalled, then cut", fault: func(h *harness) error {
			return toxic(suite.mysqlLink, stall, "timeout", `{"timeout":0}`, "upstream", "downstream")
		}},
		{name: "MySQL link: reset", fault: func(h *harness) error {
			return toxic(suite.mysqlLink, d, "reset_peer", `{"timeout":0}`, "upstream")
		}},
		{name: "NATS link: 100 ms latency", fault: func(h *harness) error {
			return toxic(suite.natsLink, d, "latency", `{"latency":50,"jitter":20}`, "upstream", "downstream")
		}},
		{name: "NATS link: stalled, then healed", fault: func(h *harness) error {
			return toxic(suite.natsLink, stall, "latency", `{"latency":3600000}`, "upstream", "downstream")
		}},
		{name: "NATS link: stalled, then cut", fault: func(h *harness) error {
			return toxic(suite.natsLink, stall, "timeout", `{"timeout":0}`, "upstream", "downstream")
		}},
		{name: "NATS link: reset", fault: func(h *harness) error {
			return toxic(suite.natsLink, d, "reset_peer", `{"timeout":0}`, "upstream")
		}},
		// Durable requests (JetStream): clients keep publishing while every
		// instance is killed with -9 and none runs; each publish the
		// stream acknowledged must be applied exactly once after the
		// instances start again (durable_test.go).
		{name: "every instance down while clients publish (durable)", instances: 2, durable: true, fault: func(h *harness) error {
			held := h.durableHeld()
			for _, in := range h.running() {
				in.kill()
			}
			h.t.Logf("killed every instance with -9; they held %s", held)
			sleep(2 * d)
			h.ended() // recovery: from the first restart to the backlog drained
			return h.startParallel(2)
		}},
	}
}

const opening = "10000000.00"

// TestFaults runs every fault under load and checks every request.
func TestFaults(t *testing.T) {
	requireSuite(t)
	md := currentMode()
	var results []*result
	for _, sc := range scenarios(md) {
		t.Run(sc.name, func(t *testing.T) {
			run := runScenario
			if sc.durable {
				run = runDurableScenario
			}
			res := run(t, md, sc)
			if res != nil {
				results = append(results, res)
			}
		})
	}
	if err := writeReport(md, results); err != nil {
		t.Errorf("report: %v", err)
	}
}

// runScenario runs one fault and checks its requests.
func runScenario(t *testing.T, md mode, sc scenario) *result {
	h := newHarness(t, md)
	for range max(sc.instances, 1) {
		h.start()
	}
	accounts := openAccounts(t, h.db, 8)
	res, _ := runLoad(t, md, h, accounts, sc.name, func() error { return sc.fault(h) }, nil)

	t.Logf("%d requests in %s: %d acknowledged, errors: %s; %d unknown resolved (%d applied); recovery %s",
		res.sent, res.duration.Round(100*time.Millisecond), res.acked, errorSummary(res.errors),
		res.unknown, res.unknownApplied, res.recovery.Round(time.Millisecond))
	for _, p := range res.problems {
		t.Errorf("broken promise: %s", p)
	}
	if n := res.errors["no reply"]; sc.everyReply && n > 0 {
		t.Errorf("%d requests got no reply", n)
	}
	if sc.errorCodes != nil {
		for code, n := range res.errors {
			if !slices.Contains(sc.errorCodes, code) {
				t.Errorf("%d replies %q; want only %v", n, code, sc.errorCodes)
			}
		}
	}
	if !res.recovered {
		t.Errorf("no request succeeded within %s after the fault ended", md.recovery)
		for _, in := range h.instances {
			t.Logf("%s log:\n%s", in.name, in.tail())
		}
	}
	if t.Failed() {
		for _, in := range h.instances {
			t.Logf("%s log:\n%s", in.name, in.tail())
		}
	}
	return res
}

// runLoad runs fault under a load of md.clients sending transfers
// between accounts to h's instances, from the warm-up to the check of every
// request: what a scenario does on any kind of server. stopped, when set,
// runs once the instances have stopped, before the check.
func runLoad(t *testing.T, md mode, h *harness, accounts []uint64, name string, fault func() error, stopped func()) (*result, *load) {
	t.Helper()
	nc, err := nats.Connect(suite.nats.url(), nats.Name("faults-load"), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	l := &load{nc: nc, subject: h.prefix + ".accounts.transfer", accounts: accounts,
		wait: md.timeout + 3*time.Second, pause: md.pause}

	l.began = time.Now()
	l.start(md.clients)
	// The load must be flowing before the fault: on a busy machine that
	// can take longer than md.warm.
	for deadline := time.Now().Add(time.Minute); l.succeeded() < md.clients; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			l.halt()
			t.Fatalf("only %d transfers succeeded in a minute before the fault; instance log:\n%s", l.succeeded(), h.instances[0].tail())
		}
	}
	sleep(md.warm)
	faultErr := fault()
	h.ended()
	res := &result{fault: name, clients: md.clients}
	if faultErr != nil {
		t.Errorf("injecting the fault: %v", faultErr)
	}
	res.recovery, res.recovered = l.probe(h.faultEnd, md.recovery)
	if res.recovered {
		sleep(md.after)
	}
	l.halt()
	res.duration = time.Since(l.began)
	h.stopAll()
	h.waitNoConns()
	if stopped != nil {
		stopped()
	}
	if err := l.check(h.db, res, opening); err != nil {
		t.Fatal(err)
	}
	return res, l
}

// openAccounts inserts n accounts with the opening balance, straight into
// the database the service migrated.
func openAccounts(t *testing.T, db *sqlx.DB, n int) []uint64 {
	t.Helper()
	ids := make([]uint64, n)
	for i := range ids {
		res, err := db.ExecContext(context.Background(), "INSERT INTO accounts (owner, balance) VALUES (?, ?)", fmt.Sprint("owner", i), opening)
		if err != nil {
			t.Fatalf("open account: %v", err)
		}
		id, _ := res.LastInsertId()
		ids[i] = uint64(id)
	}
	return ids
}
