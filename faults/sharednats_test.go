//go:build linux

package faults

// Durable requests on a NATS server that is not the service's alone (the
// issue "Clusters", findings 6 and 7), with the bank as real processes
// configured only through the environment, as an operator would:
//
//   - two services with different DBAPI_PREFIX and otherwise the default
//     settings (DBAPI_STREAM and DBAPI_DURABLE_CONSUMER unset) on one
//     NATS server each apply their own durable requests, and neither
//     rewrites the other's stream; a third told to use the first one's
//     stream refuses to start, naming both subject sets;
//   - a Nats-Msg-Id reused outside the stream's de-duplication window for
//     another body or another operation is answered 409
//     idempotency_key_reused on its Dbapi-Reply-To, runs nothing, and
//     leaves the first request's outcome as it was.
//
// Each test runs a NATS server of its own (JetStream on), so that the
// default stream name is nobody else's.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ownNATS starts a NATS server with JetStream for one test and connects
// to it.
func ownNATS(t *testing.T) (*natsServer, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	ns, err := startNATS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.stop)
	nc, err := nats.Connect(ns.url(), nats.Name(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return ns, nc, js
}

// durableReply is what came back on a durable request's Dbapi-Reply-To.
type durableReply struct {
	status   int // 0: success
	code     string
	replayed bool
	body     string
}

func (r durableReply) String() string {
	if r.status == 0 {
		return fmt.Sprintf("success %s (replayed %v)", r.body, r.replayed)
	}
	return fmt.Sprintf("%d %s (replayed %v): %s", r.status, r.code, r.replayed, r.body)
}

// sendDurable publishes a durable request with Nats-Msg-Id key and a
// Dbapi-Reply-To of its own, and waits for the stream's ack and then for
// the outcome on Dbapi-Reply-To.
func sendDurable(nc *nats.Conn, js jetstream.JetStream, subject, key, body string) (*jetstream.PubAck, durableReply, error) {
	sub, err := nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		return nil, durableReply{}, err
	}
	defer sub.Unsubscribe()
	msg := &nats.Msg{Subject: subject, Data: []byte(body), Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, key)
	msg.Header.Set(protocol.HeaderReplyTo, sub.Subject)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		return nil, durableReply{}, fmt.Errorf("publish %s: %w", subject, err)
	}
	m, err := sub.NextMsg(15 * time.Second)
	if err != nil {
		return ack, durableReply{}, fmt.Errorf("no outcome on Dbapi-Reply-To for %s (stream %s, sequence %d): %w", subject, ack.Stream, ack.Sequence, err)
	}
	return ack, readReply(m), nil
}

func readReply(m *nats.Msg) durableReply {
	r := durableReply{body: string(m.Data), replayed: m.Header.Get(protocol.HeaderReplayed) == "true"}
	if code := m.Header.Get(protocol.HeaderErrorCode); code != "" {
		r.status, _ = strconv.Atoi(code)
		var eb protocol.ErrorBody
		json.Unmarshal(m.Data, &eb)
		r.code = eb.Error.Code
	}
	return r
}

// streamOf returns the stream that takes subject, and its subjects.
func streamOf(js jetstream.JetStream, subject string) (string, []string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	name, err := js.StreamNameBySubject(ctx, subject)
	if err != nil {
		return "", nil, fmt.Errorf("the stream of %s: %w", subject, err)
	}
	s, err := js.Stream(ctx, name)
	if err != nil {
		return "", nil, err
	}
	return name, s.CachedInfo().Config.Subjects, nil
}

// Finding 6: two services with different prefixes and default stream and
// consumer names on one NATS server.
func TestTwoServicesOneNATS(t *testing.T) {
	requireSuite(t)
	ns, nc, js := ownNATS(t)
	md := currentMode()
	var hs []*harness
	for range 2 {
		h := newHarness(t, md)
		h.env = append(h.env, "DBAPI_NATS_URL="+ns.url(), "DBAPI_DURABLE=true") // the defaults otherwise
		h.start()
		hs = append(hs, h)
	}
	streams := map[string]bool{}
	for _, h := range hs {
		ids := openAccounts(t, h.db, 2)
		body := fmt.Sprintf(`{"from":%d,"to":%d,"amount":"1.00"}`, ids[0], ids[1])
		if _, r, err := sendDurable(nc, js, h.prefix+".durable.accounts.transfer", h.prefix+"-1", body); err != nil {
			t.Errorf("service %s: a durable transfer: %v", h.prefix, err)
		} else if r.status != 0 {
			t.Errorf("service %s: a durable transfer: %v", h.prefix, r)
		}
		var n int
		if err := h.db.Get(&n, "SELECT COUNT(*) FROM transfers"); err != nil || n != 1 {
			t.Errorf("service %s: %d transfers in its database (%v); want 1", h.prefix, n, err)
		}
		want := h.prefix + ".durable.>"
		name, subjects, err := streamOf(js, h.prefix+".durable.accounts.transfer")
		if err != nil || len(subjects) != 1 || subjects[0] != want {
			t.Errorf("service %s: stream %s takes %v (%v); want [%s]", h.prefix, name, subjects, err, want)
			continue
		}
		streams[name] = true
	}
	if len(streams) != 2 {
		t.Errorf("streams of the two services: %v; want one each", streams)
	}

	// A third service told to use the first one's stream refuses to
	// start, naming both subject sets, and leaves the stream as it was.
	first := hs[0]
	if name, _, err := streamOf(js, first.prefix+".durable.x"); err != nil {
		t.Errorf("a third service is not tried: %v", err)
	} else {
		refused(t, ns, js, first, name)
	}
	if t.Failed() {
		for _, h := range hs {
			for _, in := range h.instances {
				t.Logf("%s log:\n%s", in.name, in.tail())
			}
		}
	}
}

// refused starts a service told to use stream name, which first's
// durable requests use: it must refuse to start, naming both subject
// sets, and leave the stream as it was.
func refused(t *testing.T, ns *natsServer, js jetstream.JetStream, first *harness, name string) {
	third := newHarness(t, currentMode())
	third.env = append(third.env, "DBAPI_NATS_URL="+ns.url(), "DBAPI_DURABLE=true", "DBAPI_STREAM="+name)
	if in, err := third.startInstance(); err == nil {
		t.Errorf("a service with DBAPI_STREAM=%s (taken by prefix %s) started; log:\n%s", name, first.prefix, in.tail())
	} else {
		for _, s := range []string{name, first.prefix + ".durable.>", third.prefix + ".durable.>"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("the refusal does not name %q:\n%v", s, err)
			}
		}
	}
	if _, subjects, err := streamOf(js, first.prefix+".durable.x"); err != nil || len(subjects) != 1 || subjects[0] != first.prefix+".durable.>" {
		t.Errorf("stream %s after a third service tried to take it: %v (%v); want [%s.durable.>]", name, subjects, err, first.prefix)
	}
}

// Finding 7: a Nats-Msg-Id reused outside the stream's de-duplication
// window for another body, or another operation.
func TestDurableKeyReused(t *testing.T) {
	requireSuite(t)
	ns, nc, js := ownNATS(t)
	h := newHarness(t, currentMode())
	// 100ms is the shortest window the server accepts.
	window := 100 * time.Millisecond
	h.env = append(h.env, "DBAPI_NATS_URL="+ns.url(), "DBAPI_DURABLE=true", "DBAPI_DURABLE_DUPLICATES="+window.String(),
		"DBAPI_STREAM="+strings.ToUpper(h.prefix), "DBAPI_DURABLE_CONSUMER="+h.prefix)
	h.start()
	ids := openAccounts(t, h.db, 2)
	transfer := func(amount string) string {
		return fmt.Sprintf(`{"from":%d,"to":%d,"amount":%q}`, ids[0], ids[1], amount)
	}
	subject := func(op string) string { return h.prefix + ".durable." + op }
	const key = "order-7"
	_, first, err := sendDurable(nc, js, subject("accounts.transfer"), key, transfer("1.00"))
	if err != nil || first.status != 0 {
		t.Fatalf("first request: %v %v", first, err)
	}

	for _, c := range []struct {
		name, op, body string
		reused         bool // a 409 is due, not a replay
	}{
		{"another body", "accounts.transfer", transfer("2.00"), true},
		{"another operation", "accounts.open", `{"owner":"x","balance":"1.00"}`, true},
		// The same request again is a redelivery: its outcome, replayed.
		{"the same request", "accounts.transfer", transfer("1.00"), false},
	} {
		time.Sleep(10 * window) // past the stream's window
		ack, r, err := sendDurable(nc, js, subject(c.op), key, c.body)
		switch {
		case err != nil:
			t.Errorf("%s with key %s: %v", c.name, key, err)
		case ack.Duplicate:
			t.Errorf("%s with key %s: the stream dropped it as a duplicate: the window is not past", c.name, key)
		case c.reused && (r.status != 409 || r.code != "idempotency_key_reused" || r.replayed):
			t.Errorf("%s with key %s: %v; want 409 idempotency_key_reused, not replayed", c.name, key, r)
		case !c.reused && (r.status != 0 || !r.replayed || r.body != first.body):
			t.Errorf("%s with key %s: %v; want the first outcome replayed: %s", c.name, key, r, first.body)
		}
	}

	var transfers, accounts int
	h.db.Get(&transfers, "SELECT COUNT(*) FROM transfers")
	h.db.Get(&accounts, "SELECT COUNT(*) FROM accounts")
	if transfers != 1 || accounts != 2 {
		t.Errorf("%d transfers and %d accounts; want 1 and 2: a reused key must run nothing", transfers, accounts)
	}
	m, err := nc.Request(h.prefix+".outcome", []byte(`{"key":"`+key+`"}`), 10*time.Second)
	if err != nil {
		t.Fatalf("outcome lookup: %v", err)
	}
	if r := readReply(m); r.status != 0 || r.body != first.body {
		t.Errorf("the stored outcome of %s after the reuses: %v; want the first one: %s", key, r, first.body)
	}
	if t.Failed() {
		t.Logf("%s log:\n%s", h.instances[0].name, h.instances[0].tail())
	}
}
