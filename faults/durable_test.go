//go:build linux

package faults

// Durable requests (JetStream, package durable) under the fault "every
// instance down while clients publish": the clients publish transfers to
// the stream and wait for its ack; every instance is killed with -9 and
// none runs for a while as publishing goes on; then they start again.
//
// A request's Nats-Msg-Id is derived from its unique amount, so both its
// row in transfers and its outcome in dbapi_durable_outcomes identify it.
// Before the usual check, each request the stream acknowledged is
// resolved by its stored outcome: a success outcome makes it a success
// (acknowledged by the stream, then applied, as the transfer the outcome
// names), an error outcome an error reply (nothing may be applied). A
// publish the stream did not acknowledge is an unknown outcome, looked up
// in the database like a missing reply.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/examples/bank/bank"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// drainLimit is how long the backlog may take to drain after the restart.
const drainLimit = 2 * time.Minute

// msgID is the Nats-Msg-Id of the durable transfer of this many cents.
func msgID(cents int64) string { return "t" + strconv.FormatInt(cents, 10) }

// publishDurable publishes one durable transfer and waits for the
// stream's ack.
func publishDurable(js jetstream.JetStream, subject string, cents int64, body []byte, wait time.Duration) error {
	msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, msgID(cents))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := js.PublishMsg(ctx, msg)
	return err
}

// startParallel starts n instances at once, so that the first restart and
// the others are close together.
func (h *harness) startParallel(n int) error {
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := h.startInstance()
			errs <- err
		}()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// durableHeld waits (up to 5 s) until the instances hold some message
// unacknowledged, so that a kill then catches requests in flight, and
// says how many they hold.
func (h *harness) durableHeld() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		c, err := h.js.Consumer(ctx, h.stream, h.prefix)
		if err != nil {
			return "an unknown number of messages: " + err.Error()
		}
		ci := c.CachedInfo()
		if ci.NumAckPending > 0 || ctx.Err() != nil {
			return fmt.Sprintf("%d messages unacknowledged (%d more pending in the stream)", ci.NumAckPending, ci.NumPending)
		}
		time.Sleep(time.Millisecond)
	}
}

// redelivered returns how many deliveries were redeliveries: the
// consumer's deliveries beyond the stream's messages.
func redelivered(js jetstream.JetStream, stream, consumer string) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream, consumer)
	if err != nil {
		return 0, err
	}
	d := c.CachedInfo().Delivered
	return d.Consumer - d.Stream, nil
}

// outcomeRow is a row of dbapi_durable_outcomes.
type outcomeRow struct {
	Key    string `db:"outcome_key"`
	Status *int   `db:"status"`
	Code   string `db:"code"`
	Body   []byte `db:"body"`
}

func readOutcomes(db *sqlx.DB) (map[string]outcomeRow, error) {
	var rows []outcomeRow
	if err := db.Select(&rows, "SELECT outcome_key, status, COALESCE(code, '') AS code, body FROM dbapi_durable_outcomes"); err != nil {
		return nil, fmt.Errorf("read outcomes: %w", err)
	}
	m := make(map[string]outcomeRow, len(rows))
	for _, r := range rows {
		m[r.Key] = r
	}
	return m, nil
}

// streamAcked returns the keys of the requests the stream acknowledged
// before t (every one, for a zero t).
func (l *load) streamAcked(t time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var keys []string
	for _, r := range l.reqs {
		if r.out == gotStreamAck && (t.IsZero() || r.done.Before(t)) {
			keys = append(keys, msgID(r.cents))
		}
	}
	return keys
}

// waitOutcomes waits until every key has an outcome, and returns how long
// after since that was seen.
func waitOutcomes(db *sqlx.DB, keys []string, since time.Time, limit time.Duration) (time.Duration, bool) {
	for {
		out, err := readOutcomes(db)
		if err == nil && !slices.ContainsFunc(keys, func(k string) bool { _, ok := out[k]; return !ok }) {
			return time.Since(since), true
		}
		if time.Since(since) > limit {
			return 0, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitDrained waits until the stream holds no message and its consumer
// has nothing pending or unacknowledged.
func waitDrained(js jetstream.JetStream, stream, consumer string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var last string
	for {
		s, err := js.Stream(ctx, stream)
		if err == nil {
			var c jetstream.Consumer
			if c, err = s.Consumer(ctx, consumer); err == nil {
				ci := c.CachedInfo()
				if s.CachedInfo().State.Msgs == 0 && ci.NumPending == 0 && ci.NumAckPending == 0 {
					return nil
				}
				last = fmt.Sprintf("the stream keeps %d messages; consumer: %d pending, %d unacknowledged",
					s.CachedInfo().State.Msgs, ci.NumPending, ci.NumAckPending)
			}
		}
		if err != nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not drained within %s: %s", limit, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// resolveDurable turns each request the stream acknowledged into what its
// stored outcome says, and reports keys acknowledged without an outcome
// and outcomes no request accounts for.
func resolveDurable(db *sqlx.DB, l *load, res *result) error {
	out, err := readOutcomes(db)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make(map[string]bool, len(l.reqs))
	for _, r := range l.reqs {
		key := msgID(r.cents)
		keys[key] = true
		if r.out != gotStreamAck {
			continue
		}
		o, found := out[key]
		switch {
		case !found:
			res.problems = append(res.problems, fmt.Sprintf("request %d was acknowledged by the stream but key %s has no outcome", r.cents, key))
			r.out = gotSuccess // the check then reports it lost, or its row
		case o.Status == nil:
			res.problems = append(res.problems, fmt.Sprintf("key %s: outcome committed without a status", key))
			r.out, r.status, r.code = gotUnknown, 0, "outcome without a status"
		case *o.Status == 200:
			var tr bank.TransferResult
			if err := json.Unmarshal(o.Body, &tr); err != nil || tr.TransferID == 0 {
				r.out, r.status, r.code = gotUnknown, 200, "bad success outcome: "+string(o.Body)
				break
			}
			r.out, r.id = gotSuccess, tr.TransferID
		default:
			r.out, r.status, r.code = gotError, *o.Status, o.Code
		}
	}
	for k := range out {
		if !keys[k] {
			res.problems = append(res.problems, fmt.Sprintf("outcome %s matches no request", k))
		}
	}
	return nil
}

// runDurableScenario runs a fault under a load of durable requests and
// checks each of them.
func runDurableScenario(t *testing.T, md mode, sc scenario) *result {
	h := newHarness(t, md)
	start := func() {
		for range max(sc.instances, 1) {
			h.start() // the first creates the stream and the consumer
		}
	}
	return runDurable(t, md, h, sc.name, start, func() error { return sc.fault(h) })
}

// runDurable runs fault under a load of durable requests to the
// instances start starts on h, and checks each request.
func runDurable(t *testing.T, md mode, h *harness, name string, start func(), fault func() error) *result {
	stream := strings.ToUpper(h.prefix)
	h.env = append(h.env,
		"DBAPI_DURABLE=true",
		"DBAPI_STREAM="+stream,
		"DBAPI_DURABLE_CONSUMER="+h.prefix,
		// Messages a killed instance held come back after AckWait.
		"DBAPI_DURABLE_ACK_WAIT=2s",
		"DBAPI_DURABLE_BACKOFF=100ms",
		"DBAPI_DURABLE_MAX_BACKOFF=1s",
	)
	nc, err := nats.Connect(suite.nats.url(), nats.Name("faults-durable-load"), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// Closed after the stream is deleted (cleanups run last in, first
	// out; a deferred Close would run before either).
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	h.js, h.stream = js, stream
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		js.DeleteStream(ctx, stream)
	})
	start()
	accounts := openAccounts(t, h.db, 8)
	// Publishing only waits for the stream, so unpaced clients would
	// outrun two instances many times over and the backlog would take
	// minutes to drain: each client publishes about 250/clients a second.
	l := &load{nc: nc, js: js, subject: h.prefix + ".durable.accounts.transfer", accounts: accounts,
		wait: md.timeout + 3*time.Second, pause: time.Duration(md.clients) * 4 * time.Millisecond}

	began := time.Now()
	l.start(md.clients)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		var n int
		if err := h.db.Get(&n, "SELECT COUNT(*) FROM dbapi_durable_outcomes"); err == nil && n >= md.clients {
			break
		}
		if time.Now().After(deadline) {
			l.halt()
			t.Fatalf("fewer than %d durable requests ran in a minute before the fault; instance log:\n%s", md.clients, h.instances[0].tail())
		}
	}
	sleep(md.warm)
	faultErr := fault()
	h.ended()
	res := &result{fault: name, clients: md.clients, recoveryLimit: drainLimit}
	if faultErr != nil {
		t.Errorf("injecting the fault: %v", faultErr)
	}
	// Recovery: from the first restart until every request the stream
	// acknowledged before it has its outcome, while clients go on.
	backlog := l.streamAcked(h.faultEnd)
	res.recovery, res.recovered = waitOutcomes(h.db, backlog, h.faultEnd, drainLimit)
	if res.recovered {
		sleep(md.after)
	}
	l.halt()
	res.duration = time.Since(began)
	if _, ok := waitOutcomes(h.db, l.streamAcked(time.Time{}), time.Now(), drainLimit); !ok {
		t.Errorf("not every acknowledged request has an outcome %s after the load stopped", drainLimit)
	}
	if err := waitDrained(js, stream, h.prefix, 30*time.Second); err != nil {
		t.Error(err)
	}
	redeliveries, err := redelivered(js, stream, h.prefix)
	if err != nil {
		t.Error(err)
	}
	h.stopAll()
	h.waitNoConns()
	if err := resolveDurable(h.db, l, res); err != nil {
		t.Fatal(err)
	}
	if err := l.check(h.db, res, opening); err != nil {
		t.Fatal(err)
	}

	t.Logf("%d durable requests in %s: %d acknowledged by the stream and applied, errors: %s; %d unknown resolved (%d applied); "+
		"backlog of %d drained %s after the first restart; %d deliveries were redeliveries",
		res.sent, res.duration.Round(100*time.Millisecond), res.acked, errorSummary(res.errors),
		res.unknown, res.unknownApplied, len(backlog), res.recovery.Round(time.Millisecond), redeliveries)
	for _, p := range res.problems {
		t.Errorf("broken promise: %s", p)
	}
	for code, n := range res.errors {
		if code != "no reply" { // a publish the stream did not acknowledge
			t.Errorf("%d durable transfers between funded accounts have the outcome %q", n, code)
		}
	}
	if !res.recovered {
		t.Errorf("the backlog of %d requests did not drain within %s of the restart", len(backlog), drainLimit)
	}
	if t.Failed() {
		for _, in := range h.instances {
			t.Logf("%s log:\n%s", in.name, in.tail())
		}
	}
	return res
}
