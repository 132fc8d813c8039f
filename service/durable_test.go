package service

// Durable requests on JetStream, end to end: real MariaDB, a real NATS
// server with JetStream (embedded, its store in a temporary folder, unless
// DBAPI_TEST_NATS_URL names one), whole service instances in process.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/examples/bank/bank"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/dbapi-dev/dbapi/internal/natstest"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// newDurableEnv is newEnv on a NATS server with JetStream. Its stream
// and consumer are named after the test's own prefix and deleted at the
// end (so a shared server keeps nothing).
func newDurableEnv(t *testing.T) (*env, jetstream.JetStream) {
	t.Helper()
	cfg := dbtest.Config(t)
	dbtest.Create(t, cfg)
	var b [4]byte
	rand.Read(b[:])
	url, _ := natstest.JetStreamURL(t)
	e := &env{t: t, db: cfg, url: url, prefix: "dbapitest" + hex.EncodeToString(b[:])}
	e.nc = natstest.Connect(t, e.url)
	js, err := jetstream.New(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		js.DeleteStream(ctx, e.stream())
	})
	return e, js
}

func (e *env) stream() string { return strings.ToUpper(e.prefix) }

// durableConfig turns durable requests on, with short waits so that
// redeliveries happen within a test.
func (e *env) durableConfig() Config {
	c := e.config()
	c.Durable = true
	c.Stream = e.stream()
	c.DurableConsumer = e.prefix
	c.DurableStorage = "file"
	c.DurableReplicas = 1
	c.DurableMaxAge = time.Hour
	c.DurableDuplicates = 2 * time.Minute
	c.DurableAckWait = 2 * time.Second
	c.DurableMaxDeliver = 20
	c.DurableBackoff = 100 * time.Millisecond
	c.DurableMaxBackoff = time.Second
	c.DurableOutcomeTTL = 2 * time.Hour
	return c
}

// publish publishes a durable request and waits for the stream's ack.
func publish(t *testing.T, js jetstream.JetStream, subject string, body []byte, id string, h nats.Header) *jetstream.PubAck {
	t.Helper()
	msg := &nats.Msg{Subject: subject, Data: body, Header: h}
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	if id != "" {
		msg.Header.Set(jetstream.MsgIDHeader, id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
	return ack
}

// publishTransfers publishes n random transfers as durable requests with
// the ids prefix-0 ... prefix-(n-1), asynchronously, and waits for every
// ack.
func publishTransfers(t *testing.T, js jetstream.JetStream, e *env, accounts []uint64, idPrefix string, n int) {
	t.Helper()
	futures := make([]jetstream.PubAckFuture, 0, n)
	for i := range n {
		body, _ := json.Marshal(randomTransfer(accounts))
		msg := &nats.Msg{Subject: e.prefix + ".durable.accounts.transfer", Data: body, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s-%d", idPrefix, i))
		f, err := js.PublishMsgAsync(msg)
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		futures = append(futures, f)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		t.Fatal("the stream did not ack every publish within a minute")
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatalf("publish %d: %v", i, err)
		}
	}
}

// storedOutcome is a row of dbapi_durable_outcomes.
type storedOutcome struct {
	Key    string `db:"outcome_key"`
	Status *int   `db:"status"`
	Code   string `db:"code"`
	Body   []byte `db:"body"`
}

func outcomes(t *testing.T, db *sqlx.DB) map[string]storedOutcome {
	t.Helper()
	var rows []storedOutcome
	if err := db.Select(&rows, "SELECT outcome_key, status, COALESCE(code, '') AS code, body FROM dbapi_durable_outcomes"); err != nil {
		t.Fatal(err)
	}
	m := make(map[string]storedOutcome, len(rows))
	for _, r := range rows {
		if r.Status == nil {
			t.Errorf("outcome %s committed without a status", r.Key)
		}
		m[r.Key] = r
	}
	return m
}

// waitOutcomes waits until n keys have outcomes.
func waitOutcomes(t *testing.T, db *sqlx.DB, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got int
	for time.Now().Before(deadline) {
		if err := db.Get(&got, "SELECT COUNT(*) FROM dbapi_durable_outcomes"); err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%d of %d keys have an outcome after %s", got, n, within)
}

// checkTransferOutcomes checks that keys prefix-0 ... prefix-(n-1) each
// have an outcome, that every success names a distinct transfer and every
// failure is insufficient_funds, and that the ledger holds exactly the
// transfers of the successes. It returns how many succeeded.
func checkTransferOutcomes(t *testing.T, db *sqlx.DB, idPrefix string, n, accounts int) int {
	t.Helper()
	out := outcomes(t, db)
	ok := map[int64]bool{}
	for i := range n {
		o, found := out[fmt.Sprintf("%s-%d", idPrefix, i)]
		switch {
		case !found:
			t.Errorf("key %s-%d has no outcome", idPrefix, i)
		case o.Status != nil && *o.Status == 200:
			var res bank.TransferResult
			if err := json.Unmarshal(o.Body, &res); err != nil || res.TransferID == 0 {
				t.Errorf("key %s-%d: success body %s", idPrefix, i, o.Body)
			} else if ok[res.TransferID] {
				t.Errorf("transfer %d is the outcome of two keys", res.TransferID)
			}
			ok[res.TransferID] = true
		case o.Code != "insufficient_funds":
			t.Errorf("key %s-%d: outcome %v %s %s", idPrefix, i, *o.Status, o.Code, o.Body)
		}
	}
	checkLedger(t, db, "1000.00", accounts, ok)
	return len(ok)
}

// checkDrained waits until the stream holds no message and the consumer
// has nothing pending or unacknowledged.
func checkDrained(t *testing.T, js jetstream.JetStream, e *env) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		s, err := js.Stream(ctx, e.stream())
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.Consumer(ctx, e.prefix)
		if err != nil {
			t.Fatal(err)
		}
		ci := c.CachedInfo()
		if s.CachedInfo().State.Msgs == 0 && ci.NumPending == 0 && ci.NumAckPending == 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("stream keeps %d messages; consumer: %d pending, %d unacknowledged", s.CachedInfo().State.Msgs, ci.NumPending, ci.NumAckPending)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Requests published while no instance runs are kept by the stream; two
// instances started later run each exactly once.
func TestDurableBacklogRunsOnceOnTwoInstances(t *testing.T) {
	const total, accounts = 5000, 20
	e, js := newDurableEnv(t)
	cfg := e.durableConfig()
	first := e.start(cfg) // creates the stream and the consumer
	ids := e.openAccounts(accounts, "1000.00")
	first.Close()

	publishTransfers(t, js, e, ids, "t", total)
	if _, err := e.nc.Request(e.prefix+".accounts.transfer", []byte(`{}`), time.Second); err == nil {
		t.Fatal("an instance is still answering")
	}

	a, b := e.start(cfg), e.start(cfg)
	db := e.sqlx()
	waitOutcomes(t, db, total, 3*time.Minute)
	checkDrained(t, js, e)
	succeeded := checkTransferOutcomes(t, db, "t", total, accounts)

	sa, sb := a.Durable.Stats(), b.Durable.Stats()
	if got := sa.Outcomes["committed"] + sb.Outcomes["committed"]; got != succeeded {
		t.Errorf("instances committed %d durable requests; %d transfers succeeded", got, succeeded)
	}
	if got := sa.Outcomes["failed"] + sb.Outcomes["failed"]; got != total-succeeded {
		t.Errorf("instances stored %d failures; %d transfers failed", got, total-succeeded)
	}
	t.Logf("%d transfers: %d succeeded; instance A %v, B %v", total, succeeded, sa.Outcomes, sb.Outcomes)
}

// The same Nats-Msg-Id runs once: inside the de-duplication window the
// stream drops the copy; outside it the copy is stored again and the
// consumer acks it without running, by its stored outcome. Dbapi-Reply-To
// gets the outcome, and <prefix>.outcome looks it up.
func TestDurableSameMsgIDRunsOnce(t *testing.T) {
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
	body := []byte(fmt.Sprintf(`{"from":%d,"to":%d,"amount":"1.00"}`, ids[0], ids[1]))
	h := func() nats.Header { return nats.Header{"Dbapi-Reply-To": {replies.Subject}} }
	subject := e.prefix + ".durable.accounts.transfer"

	ack1 := publish(t, js, subject, body, "same-1", h())
	ack2 := publish(t, js, subject, body, "same-1", h())
	if ack1.Duplicate || !ack2.Duplicate {
		t.Fatalf("inside the window: duplicate flags %v, %v; want false, true", ack1.Duplicate, ack2.Duplicate)
	}
	first, err := replies.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no outcome on Dbapi-Reply-To: %v", err)
	}
	if first.Header.Get(executor.HeaderErrorCode) != "" || first.Header.Get(executor.HeaderReplayed) != "" {
		t.Fatalf("first outcome: %v %s", first.Header, first.Data)
	}

	time.Sleep(1500 * time.Millisecond) // past the window
	if ack := publish(t, js, subject, body, "same-1", h()); ack.Duplicate {
		t.Fatal("outside the window the stream still called it a duplicate")
	}
	again, err := replies.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no outcome for the copy: %v", err)
	}
	if string(again.Data) != string(first.Data) || again.Header.Get(executor.HeaderReplayed) != "true" {
		t.Errorf("copy's outcome %v %s; want the first's body, replayed", again.Header, again.Data)
	}
	var n int
	if err := db.Get(&n, "SELECT COUNT(*) FROM transfers"); err != nil || n != 1 {
		t.Errorf("%d transfers committed (%v); want 1", n, err)
	}
	st := m.Durable.Stats()
	if st.Outcomes["committed"] != 1 || st.Outcomes["replayed"] != 1 {
		t.Errorf("stats %v; want committed 1, replayed 1", st.Outcomes)
	}

	// The outcome by its key, and a key that has none.
	r := call(e.nc, e.prefix+".outcome", []byte(`{"key":"same-1"}`), nil, 10*time.Second)
	if r.err != nil || r.status != 0 || string(r.body) != string(first.Data) {
		t.Errorf("outcome lookup: %v", r)
	}
	resp, err := e.nc.Request(e.prefix+".outcome", []byte(`{"key":"same-1"}`), 10*time.Second)
	if err != nil || resp.Header.Get(executor.HeaderReplayed) != "true" {
		t.Errorf("outcome lookup: %v, headers %v; want Dbapi-Replayed: true", err, resp.Header)
	}
	if r := call(e.nc, e.prefix+".outcome", []byte(`{"key":"never"}`), nil, 10*time.Second); r.status != 404 || r.code != "not_found" {
		t.Errorf("lookup of an unknown key: %v; want 404 not_found", r)
	}
	if r := call(e.nc, e.prefix+".outcome", []byte(`{"key":`), nil, 10*time.Second); r.status != 400 {
		t.Errorf("lookup with bad JSON: %v; want 400", r)
	}
	checkDrained(t, js, e)
}

// A poison message (bad JSON) is terminated with its 400 outcome stored,
// and is not delivered again.
func TestDurablePoisonMessage(t *testing.T) {
	e, js := newDurableEnv(t)
	cfg := e.durableConfig()
	m := e.start(cfg)
	db := e.sqlx()
	replies, err := e.nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	publish(t, js, e.prefix+".durable.accounts.transfer", []byte(`{"from":`), "poison-1",
		nats.Header{"Dbapi-Reply-To": {replies.Subject}})
	msg, err := replies.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no outcome on Dbapi-Reply-To: %v", err)
	}
	if msg.Header.Get(executor.HeaderErrorCode) != "400" {
		t.Errorf("poison outcome %v %s; want 400", msg.Header, msg.Data)
	}
	out := outcomes(t, db)["poison-1"]
	if out.Status == nil || *out.Status != 400 || out.Code != "malformed_json" {
		t.Errorf("stored outcome %+v; want 400 malformed_json", out)
	}
	// An unknown operation is as final.
	publish(t, js, e.prefix+".durable.accounts.nope", []byte(`{}`), "unknown-op", nil)
	waitOutcomes(t, db, 2, 10*time.Second)
	if out := outcomes(t, db)["unknown-op"]; out.Status == nil || *out.Status != 404 {
		t.Errorf("unknown operation's outcome %+v; want 404", out)
	}

	time.Sleep(3 * cfg.DurableAckWait) // a redelivery would have come by now
	checkDrained(t, js, e)
	s, err := js.Stream(context.Background(), e.stream())
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Consumer(context.Background(), e.prefix)
	if err != nil {
		t.Fatal(err)
	}
	if ci := c.CachedInfo(); ci.Delivered.Consumer != 2 || ci.NumRedelivered != 0 {
		t.Errorf("consumer delivered %d messages, %d redelivered; want 2 and 0", ci.Delivered.Consumer, ci.NumRedelivered)
	}
	if st := m.Durable.Stats(); st.Outcomes["failed"] != 2 || st.Outcomes["committed"] != 0 {
		t.Errorf("stats %v; want 2 failed", st)
	}
}

// An instance killed mid-way, twice, and restarted: every published
// request has exactly one effect and every key an outcome. "Killed" here
// is in process: its NATS connection is cut first, so no ack, nak or
// in-progress reaches the server, and its running transactions are
// rolled back or commit unacknowledged. The redelivered messages run on
// the other instance or the restarted one.
func TestDurableInstanceKilledMidway(t *testing.T) {
	const total, accounts = 3000, 20
	e, js := newDurableEnv(t)
	cfg := e.durableConfig()
	survivor := e.start(cfg)
	ids := e.openAccounts(accounts, "1000.00")
	db := e.sqlx()

	killCfg := cfg
	killCfg.Grace = 0
	victim := e.start(killCfg)
	publishTransfers(t, js, e, ids, "k", total) // the instances take them as they come
	for round, at := range []int{total / 5, total / 2} {
		waitOutcomes(t, db, at, 2*time.Minute)
		running := victim.Durable.Running()
		victim.DurableNATS.Close()
		victim.Close()
		t.Logf("round %d: killed an instance running %d messages, at %d outcomes", round, running, at)
		victim = e.start(killCfg)
	}
	waitOutcomes(t, db, total, 3*time.Minute)
	checkDrained(t, js, e)
	succeeded := checkTransferOutcomes(t, db, "k", total, accounts)
	t.Logf("%d transfers: %d succeeded; survivor %v, restarted %v", total, succeeded,
		survivor.Durable.Stats().Outcomes, victim.Durable.Stats().Outcomes)
}

// cutProxy is a TCP proxy to the database that a test can cut: while it is
// down, new connections are refused and open ones are reset, as when the
// database is down.
type cutProxy struct {
	t        *testing.T
	upstream string
	addr     string
	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]bool
}

func newCutProxy(t *testing.T, upstream string) *cutProxy {
	p := &cutProxy{t: t, upstream: upstream, conns: map[net.Conn]bool{}}
	p.up("127.0.0.1:0")
	t.Cleanup(p.down)
	return p
}

func (p *cutProxy) up(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.upstream)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[u] = true, true
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close(); c.Close() }()
			go func() { io.Copy(c, u); u.Close(); c.Close() }()
		}
	}()
}

func (p *cutProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// The database down for 10 s mid-load: nothing is lost, and every request
// runs once after it returns.
func TestDurableDatabaseDown(t *testing.T) {
	const total, accounts = 1500, 20
	e, js := newDurableEnv(t)
	proxy := newCutProxy(t, e.db.Addr)
	cfg := e.durableConfig()
	viaProxy := *e.db
	viaProxy.Addr = proxy.addr
	cfg.MySQLDSN = viaProxy.FormatDSN()
	cfg.DurableMaxDeliver = 40
	cfg.DurableMaxBackoff = 2 * time.Second
	m := e.start(cfg)
	ids := e.openAccounts(accounts, "1000.00")
	db := e.sqlx()

	publishTransfers(t, js, e, ids, "d", total)
	waitOutcomes(t, db, total/5, time.Minute)
	proxy.down()
	time.Sleep(10 * time.Second)
	retriedWhileDown := m.Durable.Stats().Outcomes["retried"]
	proxy.up(proxy.addr)
	waitOutcomes(t, db, total, 3*time.Minute)
	checkDrained(t, js, e)
	succeeded := checkTransferOutcomes(t, db, "d", total, accounts)
	st := m.Durable.Stats()
	if retriedWhileDown == 0 {
		t.Error("no message was nak'ed while the database was down")
	}
	if st.Outcomes["gave_up"] != 0 {
		t.Errorf("%d messages were given up", st.Outcomes["gave_up"])
	}
	t.Logf("%d transfers: %d succeeded; %v, errors %v", total, succeeded, st.Outcomes, st.Errors)
}

// bankProcess is examples/bank run as a process of its own, so that it can
// be killed with SIGKILL.
type bankProcess struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func startBankProcess(t *testing.T, bin string, env []string) *bankProcess {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &bankProcess{cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.kill)
	return p
}

func (p *bankProcess) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// The kill -9 of the issue: an instance in a process of its own (the bank
// example binary) is killed with SIGKILL twice mid-way under load and
// restarted; an in-process instance runs beside it. Every published
// request has exactly one effect, and every key an outcome.
func TestDurableKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ./examples/bank")
	}
	const total, accounts = 3000, 20
	e, js := newDurableEnv(t)
	cfg := e.durableConfig()
	bin := filepath.Join(t.TempDir(), "bank")
	build := exec.Command("go", "build", "-o", bin, "./examples/bank")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/bank: %v\n%s", err, out)
	}
	survivor := e.start(cfg)
	ids := e.openAccounts(accounts, "1000.00")
	db := e.sqlx()
	env := []string{
		"DBAPI_MYSQL_DSN=" + cfg.MySQLDSN, "DBAPI_NATS_URL=" + cfg.NATSURL,
		"DBAPI_PREFIX=" + cfg.Prefix, "DBAPI_QUEUE_GROUP=" + cfg.QueueGroup, "DBAPI_LOG_LEVEL=error",
		"DBAPI_DURABLE=true", "DBAPI_STREAM=" + cfg.Stream, "DBAPI_DURABLE_CONSUMER=" + cfg.DurableConsumer,
		"DBAPI_DURABLE_MAX_AGE=" + cfg.DurableMaxAge.String(), "DBAPI_DURABLE_OUTCOME_TTL=" + cfg.DurableOutcomeTTL.String(),
		"DBAPI_DURABLE_ACK_WAIT=" + cfg.DurableAckWait.String(), "DBAPI_DURABLE_BACKOFF=" + cfg.DurableBackoff.String(),
		"DBAPI_DURABLE_MAX_BACKOFF=" + cfg.DurableMaxBackoff.String(),
	}
	victim := startBankProcess(t, bin, env)
	publishTransfers(t, js, e, ids, "k9", total)
	stream, err := js.Stream(context.Background(), e.stream())
	if err != nil {
		t.Fatal(err)
	}
	for round, at := range []int{total / 4, total / 2} {
		waitOutcomes(t, db, at, 2*time.Minute)
		c, err := stream.Consumer(context.Background(), e.prefix)
		if err != nil {
			t.Fatal(err)
		}
		victim.kill()
		t.Logf("round %d: kill -9 at %d outcomes, %d messages unacknowledged", round, at, c.CachedInfo().NumAckPending)
		victim = startBankProcess(t, bin, env)
	}
	waitOutcomes(t, db, total, 3*time.Minute)
	checkDrained(t, js, e)
	succeeded := checkTransferOutcomes(t, db, "k9", total, accounts)
	t.Logf("%d transfers: %d succeeded; the in-process instance: %v", total, succeeded, survivor.Durable.Stats().Outcomes)
}
