package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/client"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/nats-io/nats.go"
)

// withPosition is an ok reply carrying a Dbapi-Position header (under
// name, as a server might spell it).
func withPosition(name, token string) *nats.Msg {
	return &nats.Msg{Data: []byte(`{}`), Header: nats.Header{name: {token}}}
}

// A session sends back the last position it received; a plain client
// sends none.
func TestSessionSendsTheLastPosition(t *testing.T) {
	c, s, _ := setup(t,
		withPosition(protocol.HeaderPosition, "tok1"),
		ok(`{}`), // a read: no position
		withPosition("dbapi-position", "tok2"),
		fail("503", "overloaded", true), // retried, with the same position
		withPosition(protocol.HeaderPosition, "tok3"),
		withPosition(protocol.HeaderPosition, "tok4"), // the plain client's
		ok(`{}`),
	)
	ctx := context.Background()
	sess := c.Session()
	if sess.Position() != "" {
		t.Fatalf("a new session has position %q", sess.Position())
	}
	for i, want := range []string{"tok1", "tok1", "tok2", "tok3"} {
		if err := sess.Call(ctx, "op", nil, nil); err != nil {
			t.Fatal(err)
		}
		if sess.Position() != want {
			t.Errorf("after call %d: position %q, want %q", i+1, sess.Position(), want)
		}
	}
	var got string
	if err := c.Call(ctx, "op", nil, nil, client.ReplyPosition(&got)); err != nil || got != "tok4" {
		t.Errorf("plain call: position %q (%v)", got, err)
	}
	if err := c.Call(ctx, "op", nil, nil, client.ReplyPosition(&got)); err != nil || got != "" {
		t.Errorf("plain call without a position: %q (%v)", got, err)
	}
	if sess.Position() != "tok3" {
		t.Errorf("the plain client's replies changed the session's position to %q", sess.Position())
	}
	var sent []string
	for _, m := range s.seen() {
		sent = append(sent, m.Header.Get(protocol.HeaderAfter))
	}
	want := []string{"", "tok1", "tok1", "tok2", "tok2", "", ""}
	if len(sent) != len(want) {
		t.Fatalf("sent %q", sent)
	}
	for i := range want {
		if sent[i] != want[i] {
			t.Errorf("request %d sent Dbapi-After %q, want %q (all: %q)", i+1, sent[i], want[i], sent)
		}
	}
}

// A batch in a session carries the position both ways; SetPosition
// continues another session.
func TestSessionBatchAndSetPosition(t *testing.T) {
	reply := withPosition(protocol.HeaderPosition, "tok9")
	reply.Data = []byte(`{"results":[{"id":1}]}`)
	c, s, conn := setup(t, reply)
	sess := c.Session()
	sess.SetPosition("tok8")
	step, err := client.Step("accounts.open", map[string]string{"owner": "ann"}, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The stub listens on svc.op only; a batch goes to svc.batch.
	s.serve(t, conn, "svc.batch")
	res, err := sess.Batch(ctx, []protocol.BatchStep{step})
	if err != nil || len(res) != 1 {
		t.Fatalf("Batch: %v %v", res, err)
	}
	seen := s.seen()
	if got := seen[len(seen)-1].Header.Get(protocol.HeaderAfter); got != "tok8" {
		t.Errorf("batch sent Dbapi-After %q", got)
	}
	if sess.Position() != "tok9" {
		t.Errorf("position after the batch %q", sess.Position())
	}
}
