package service

// The promises of the issue "Clusters" that one NATS server and one
// MariaDB server can show (the fault suite, package faults, shows the
// rest on real Galera and NATS clusters): durable requests of two
// services on one NATS server, a reused Nats-Msg-Id, JetStream set-up and
// fetching that wait for JetStream, and an instance that leaves the queue
// group while its database cannot serve.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/dbapi-dev/dbapi/internal/mariadbd"
	"github.com/dbapi-dev/dbapi/internal/natstest"
	"github.com/dbapi-dev/dbapi/internal/prereq"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A Nats-Msg-Id reused, outside the stream's de-duplication window, for
// another body or another operation runs nothing: it is answered 409
// idempotency_key_reused on its Dbapi-Reply-To, and the first request's
// outcome stays as it was.
func TestDurableKeyReusedForAnotherRequest(t *testing.T) {
	e, js := newDurableEnv(t)
	cfg := e.durableConfig()
	cfg.DurableDuplicates = time.Second
	m := e.start(cfg)
	ids := e.openAccounts(2, "1000.00")
	db := e.sqlx()

	replies, err := e.nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	h := func() nats.Header { return nats.Header{"Dbapi-Reply-To": {replies.Subject}} }
	transfer := func(amount string) []byte {
		return []byte(fmt.Sprintf(`{"from":%d,"to":%d,"amount":%q}`, ids[0], ids[1], amount))
	}
	publish(t, js, e.prefix+".durable.accounts.transfer", transfer("1.00"), "reused-1", h())
	first, err := replies.NextMsg(10 * time.Second)
	if err != nil || first.Header.Get(executor.HeaderErrorCode) != "" {
		t.Fatalf("first outcome: %v %v", err, first)
	}

	for _, c := range []struct{ subject, body string }{
		{e.prefix + ".durable.accounts.transfer", string(transfer("2.00"))},    // another body
		{e.prefix + ".durable.accounts.get", fmt.Sprintf(`{"id":%d}`, ids[0])}, // another operation
	} {
		time.Sleep(1500 * time.Millisecond) // past the stream's window
		if ack := publish(t, js, c.subject, []byte(c.body), "reused-1", h()); ack.Duplicate {
			t.Fatal("the stream dropped the publish as a duplicate")
		}
		got, err := replies.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("%s: no outcome on Dbapi-Reply-To: %v", c.subject, err)
		}
		var eb executor.ErrorBody
		json.Unmarshal(got.Data, &eb)
		if got.Header.Get(executor.HeaderErrorCode) != "409" || eb.Error.Code != "idempotency_key_reused" || got.Header.Get(executor.HeaderReplayed) != "" {
			t.Errorf("%s with a reused key: %v %s; want 409 idempotency_key_reused, not replayed", c.subject, got.Header, got.Data)
		}
	}
	var n int
	if err := db.Get(&n, "SELECT COUNT(*) FROM transfers"); err != nil || n != 1 {
		t.Errorf("%d transfers (%v); want 1: the reused key ran nothing", n, err)
	}
	r := call(e.nc, e.prefix+".outcome", []byte(`{"key":"reused-1"}`), nil, 10*time.Second)
	if r.err != nil || r.status != 0 || string(r.body) != string(first.Data) {
		t.Errorf("stored outcome after the reuse: %v; want the first request's %s", r, first.Data)
	}
	if st := m.Durable.Stats(); st.Outcomes["committed"] != 1 || st.Outcomes["key_reused"] != 2 || st.Outcomes["replayed"] != 0 {
		t.Errorf("stats %v; want committed 1, key_reused 2, replayed 0", st.Outcomes)
	}
	checkDrained(t, js, e)
}

// Two services with different prefixes and otherwise the default
// settings share one NATS server: each gets a stream and consumer named
// after its prefix, neither touches the other's, and a service told to use
// a stream that takes another service's subjects refuses to start, naming
// both.
func TestTwoServicesShareOneNATS(t *testing.T) {
	a, js := newDurableEnv(t)
	b, _ := newDurableEnv(t)
	b.url, b.nc = a.url, a.nc // the same NATS server (the shared one under CI)
	start := func(e *env) *Main {
		cfg := e.durableConfig()
		cfg.Stream, cfg.DurableConsumer = "", "" // the defaults
		return e.start(cfg)
	}
	ma, mb := start(a), start(b)
	if ma.Durable.Stream() == mb.Durable.Stream() || ma.Durable.Consumer() == mb.Durable.Consumer() {
		t.Fatalf("both services use stream %s, consumer %s", ma.Durable.Stream(), ma.Durable.Consumer())
	}
	for _, e := range []*env{a, b} {
		ids := e.openAccounts(2, "10.00")
		body := []byte(fmt.Sprintf(`{"from":%d,"to":%d,"amount":"1.00"}`, ids[0], ids[1]))
		publish(t, js, e.prefix+".durable.accounts.transfer", body, e.prefix+"-1", nil)
		waitOutcomes(t, e.sqlx(), 1, 20*time.Second)
		s, err := js.Stream(context.Background(), e.stream())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.CachedInfo().Config.Subjects, []string{e.prefix + ".durable.>"}; len(got) != 1 || got[0] != want[0] {
			t.Errorf("stream %s subjects %v; want %v", e.stream(), got, want)
		}
	}

	// A third service pointed at a's stream with its own prefix.
	c := b.durableConfig()
	c.Prefix, c.QueueGroup = b.prefix+"x", b.prefix+"x"
	c.Stream, c.DurableConsumer = a.stream(), ""
	m := NewMain(c, bankApp())
	m.Logger = testLogger()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := m.Run(ctx)
	m.Close()
	if err == nil || !strings.Contains(err.Error(), a.prefix+".durable.>") || !strings.Contains(err.Error(), c.Prefix+".durable.>") {
		t.Errorf("start on another service's stream: %v; want a refusal naming both subjects", err)
	}
	s, err := js.Stream(context.Background(), a.stream())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.Subjects; len(got) != 1 || got[0] != a.prefix+".durable.>" {
		t.Errorf("stream %s subjects %v after the refusal; want them unchanged", a.stream(), got)
	}
}

// A service whose NATS server has no JetStream yet (a cluster that has
// just restarted has no meta leader for a while) waits for it for
// DBAPI_CONNECT_TIMEOUT instead of exiting.
func TestDurableStartWaitsForJetStream(t *testing.T) {
	store := t.TempDir()
	// A server of the test's own: the shared one must keep JetStream on.
	ns := natstest.Start(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, StoreDir: store})
	cfg := dbtest.Config(t)
	dbtest.Create(t, cfg)
	e := &env{t: t, db: cfg, url: ns.ClientURL(), prefix: "dbapitestjs"}
	e.nc = natstest.Connect(t, e.url)
	c := e.durableConfig()
	c.ConnectTimeout = time.Minute
	m := NewMain(c, bankApp())
	m.Logger = testLogger()
	t.Cleanup(func() { m.Close() })
	done := make(chan error, 1)
	go func() { done <- m.Run(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("Run returned while JetStream was off: %v; want it to wait", err)
	case <-time.After(3 * time.Second):
	}
	if err := ns.EnableJetStream(&server.JetStreamConfig{StoreDir: store}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run once JetStream was on: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30 s of JetStream coming on")
	}
	js, err := jetstream.New(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	ids := e.openAccounts(2, "10.00")
	publish(t, js, e.prefix+".durable.accounts.transfer", []byte(fmt.Sprintf(`{"from":%d,"to":%d,"amount":"1.00"}`, ids[0], ids[1])), "js-1", nil)
	waitOutcomes(t, e.sqlx(), 1, 20*time.Second)
}

// The durable fetch loop resumes within about a second once JetStream can
// serve it again, however long it could not (here: its consumer was gone
// for 8 s, as while a stream has no leader; the fetch loop once backed
// off up to 30 s).
func TestDurableFetchResumesSoon(t *testing.T) {
	e, js := newDurableEnv(t)
	cfg := e.durableConfig()
	e.start(cfg)
	ids := e.openAccounts(2, "10.00")
	ctx := context.Background()
	s, err := js.Stream(ctx, e.stream())
	if err != nil {
		t.Fatal(err)
	}
	cons, err := s.Consumer(ctx, e.prefix)
	if err != nil {
		t.Fatal(err)
	}
	ccfg := cons.CachedInfo().Config
	if err := s.DeleteConsumer(ctx, e.prefix); err != nil {
		t.Fatal(err)
	}
	time.Sleep(8 * time.Second)
	if _, err := s.CreateConsumer(ctx, ccfg); err != nil {
		t.Fatal(err)
	}
	body := []byte(fmt.Sprintf(`{"from":%d,"to":%d,"amount":"1.00"}`, ids[0], ids[1]))
	begin := time.Now()
	publish(t, js, e.prefix+".durable.accounts.transfer", body, "resume-1", nil)
	waitOutcomes(t, e.sqlx(), 1, 30*time.Second)
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("the outcome came %s after the publish; want fetching to resume within about a second", d.Round(time.Millisecond))
	} else {
		t.Logf("outcome %s after the publish", d.Round(time.Millisecond))
	}
}

// ownMariaDB starts a MariaDB server of the test's own (its global state
// is the test's to change), and stops it when the test ends. Outside CI
// the test is skipped where mariadbd is not installed.
func ownMariaDB(t *testing.T) *mariadbd.Server {
	t.Helper()
	_, _, err := mariadbd.Binaries()
	prereq.Require(t, err)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := mariadbd.Init(ctx, dir); err != nil {
		t.Fatal(err)
	}
	srv, err := mariadbd.New(dir, "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	return srv
}

// While its database cannot serve (here: read-only, as a primary demoted
// in a failover; a Galera node outside the primary component is the same
// to the check), an instance leaves the queue group after
// DBAPI_PAUSE_AFTER, so the healthy instance gets every request, and
// /readyz says why; once the database is back, it takes requests again.
func TestUnhealthyInstanceLeavesQueueGroup(t *testing.T) {
	srv := ownMariaDB(t)
	e := newEnv(t)
	healthy := e.start(e.config())
	c := e.config()
	c.MySQLDSN = "root@tcp(" + srv.Addr() + ")/dbapi_pause"
	c.PauseAfter = time.Second
	c.HTTPAddr = "127.0.0.1:0"
	sick := e.start(c)
	root, err := sqlx.Open("mysql", "root@tcp("+srv.Addr()+")/")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()

	// requests sends n reads and returns how many each instance handled.
	requests := func(n int) (byHealthy, bySick uint64) {
		t.Helper()
		h0, s0 := healthy.Consumer.Handled(), sick.Consumer.Handled()
		for i := range n {
			if r := e.call("accounts.list", map[string]any{}); r.err != nil || r.status != 0 {
				t.Fatalf("request %d: %v", i, r)
			}
		}
		return healthy.Consumer.Handled() - h0, sick.Consumer.Handled() - s0
	}
	readyz := func() (int, string) {
		resp, err := http.Get("http://" + sick.HTTP.Addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitPaused := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for sick.Consumer.Paused() != want {
			if time.Now().After(deadline) {
				t.Fatalf("paused = %v after 15 s; want %v", !want, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	if h, s := requests(60); h == 0 || s == 0 {
		t.Fatalf("while both are healthy: %d and %d requests; want both to take a share", h, s)
	}
	if _, err := root.Exec("SET GLOBAL read_only = 1"); err != nil {
		t.Fatal(err)
	}
	waitPaused(true)
	if code, body := readyz(); code != 503 || !strings.Contains(body, "read-only") || !strings.Contains(body, "paused") {
		t.Errorf("/readyz while paused: %d %q; want 503 saying read-only and paused", code, body)
	}
	if h, s := requests(60); s != 0 || h != 60 {
		t.Errorf("while its database is read-only the instance took %d requests (the healthy one %d); want none", s, h)
	}
	if _, err := root.Exec("SET GLOBAL read_only = 0"); err != nil {
		t.Fatal(err)
	}
	waitPaused(false)
	if code, body := readyz(); code != 200 {
		t.Errorf("/readyz once healthy: %d %q", code, body)
	}
	if _, s := requests(60); s == 0 {
		t.Error("once healthy again the instance took no requests")
	}
}
