package client_test

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/client"
	"github.com/dbapi-dev/dbapi/internal/natstest"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/nats-io/nats.go"
)

// stub is a stand-in service on a real NATS server: it records what each
// request carried and answers with the replies it is given, in turn (the
// last one repeats).
type stub struct {
	mu       sync.Mutex
	requests []*nats.Msg
	replies  []*nats.Msg
}

func (s *stub) serve(t *testing.T, nc *nats.Conn, subject string) {
	t.Helper()
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		s.mu.Lock()
		s.requests = append(s.requests, m)
		r := s.replies[min(len(s.requests), len(s.replies))-1]
		s.mu.Unlock()
		out := &nats.Msg{Subject: m.Reply, Data: r.Data, Header: r.Header}
		nc.PublishMsg(out)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	nc.Flush()
}

func (s *stub) seen() []*nats.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*nats.Msg(nil), s.requests...)
}

func ok(body string) *nats.Msg { return &nats.Msg{Data: []byte(body)} }

func fail(status, code string, retryable bool) *nats.Msg {
	r := "false"
	if retryable {
		r = "true"
	}
	return &nats.Msg{
		Header: nats.Header{protocol.HeaderErrorCode: {status}, protocol.HeaderError: {code + " happened"}},
		Data:   []byte(`{"error":{"code":"` + code + `","message":"` + code + ` happened","retryable":` + r + `}}`),
	}
}

func setup(t *testing.T, replies ...*nats.Msg) (*client.Client, *stub, *nats.Conn) {
	t.Helper()
	url := natstest.URL(t)
	server, clientConn := natstest.Connect(t, url), natstest.Connect(t, url)
	s := &stub{replies: replies}
	s.serve(t, server, "svc.op")
	return client.New(clientConn, "svc", client.WithRetries(4, time.Millisecond, 5*time.Millisecond)), s, clientConn
}

func TestCallSendsDeadlineAndDecodes(t *testing.T) {
	c, s, _ := setup(t, ok(`{"n":7}`))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var res struct{ N int }
	if err := c.Call(ctx, "op", map[string]any{"a": 1}, &res); err != nil {
		t.Fatal(err)
	}
	if res.N != 7 {
		t.Errorf("result %+v", res)
	}
	req := s.seen()[0]
	if string(req.Data) != `{"a":1}` {
		t.Errorf("body %s", req.Data)
	}
	d, err := time.ParseDuration(req.Header.Get(protocol.HeaderTimeout))
	if err != nil || d <= 2*time.Second || d > 3*time.Second {
		t.Errorf("Dbapi-Timeout %q (%v); want the time left on ctx, about 3s", req.Header.Get(protocol.HeaderTimeout), err)
	}
	if req.Header.Get(protocol.HeaderIdempotencyKey) != "" {
		t.Errorf("a key was sent without being asked for")
	}
}

func TestCallWithoutDeadlineUsesTheClientTimeout(t *testing.T) {
	url := natstest.URL(t)
	s := &stub{replies: []*nats.Msg{ok(`1`)}}
	s.serve(t, natstest.Connect(t, url), "svc.op")
	c := client.New(natstest.Connect(t, url), "svc", client.WithTimeout(1500*time.Millisecond))
	if err := c.Call(context.Background(), "op", nil, nil); err != nil {
		t.Fatal(err)
	}
	req := s.seen()[0]
	d, err := time.ParseDuration(req.Header.Get(protocol.HeaderTimeout))
	if err != nil || d <= time.Second || d > 1500*time.Millisecond {
		t.Errorf("Dbapi-Timeout %q; want about 1.5s", req.Header.Get(protocol.HeaderTimeout))
	}
	if len(req.Data) != 0 {
		t.Errorf("nil params sent %q; want an empty body", req.Data)
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestRetries(t *testing.T) {
	tests := []struct {
		name     string
		replies  []*nats.Msg
		attempts int
		code     string // "" means success
	}{
		{"two retryable failures, then success", []*nats.Msg{fail("503", "overloaded", true), fail("409", "deadlock", true), ok(`{}`)}, 3, ""},
		{"a failure that is not retryable", []*nats.Msg{fail("409", "insufficient_funds", false), ok(`{}`)}, 1, "insufficient_funds"},
		{"commit outcome unknown is not retried", []*nats.Msg{fail("500", "commit_outcome_unknown", false), ok(`{}`)}, 1, "commit_outcome_unknown"},
		{"always retryable: bounded", []*nats.Msg{fail("504", "timeout", true)}, 4, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s, _ := setup(t, tt.replies...)
			var n int
			err := c.Call(context.Background(), "op", map[string]int{"x": 1}, nil, client.WithNewIdempotencyKey(), client.Attempts(&n))
			if n != tt.attempts || len(s.seen()) != tt.attempts {
				t.Errorf("sent %d times (stub saw %d); want %d", n, len(s.seen()), tt.attempts)
			}
			var e *client.Error
			switch {
			case tt.code == "" && err != nil:
				t.Fatalf("Call: %v", err)
			case tt.code != "" && (!errors.As(err, &e) || e.Code != tt.code):
				t.Fatalf("Call: %v; want code %s", err, tt.code)
			}
			key := s.seen()[0].Header.Get(protocol.HeaderIdempotencyKey)
			if !uuidRE.MatchString(key) {
				t.Errorf("generated key %q is not a random UUID", key)
			}
			for i, req := range s.seen() {
				if got := req.Header.Get(protocol.HeaderIdempotencyKey); got != key {
					t.Errorf("try %d sent key %q; want the first try's %q", i+1, got, key)
				}
			}
		})
	}
}

// A retry never outlives the caller's context.
func TestRetriesStopAtTheDeadline(t *testing.T) {
	url := natstest.URL(t)
	s := &stub{replies: []*nats.Msg{fail("503", "overloaded", true)}}
	s.serve(t, natstest.Connect(t, url), "svc.op")
	c := client.New(natstest.Connect(t, url), "svc", client.WithRetries(1000, 20*time.Millisecond, 20*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var e *client.Error
	if err := c.Call(ctx, "op", nil, nil); !errors.As(err, &e) || e.Code != "overloaded" {
		t.Fatalf("Call: %v; want the last error reply", err)
	}
	if n := len(s.seen()); n < 2 || n >= 1000 {
		t.Errorf("%d tries in 300ms", n)
	}
}

func TestErrorFields(t *testing.T) {
	step := &nats.Msg{
		// Header names as another server might spell them.
		Header: nats.Header{"nats-service-error-code": {"404"}, "NATS-SERVICE-ERROR": {"step 2 (accounts.get): gone"}},
		Data:   []byte(`{"error":{"code":"not_found","message":"step 2 (accounts.get): gone","retryable":false,"step":2,"op":"accounts.get"}}`),
	}
	bare := &nats.Msg{Header: nats.Header{protocol.HeaderErrorCode: {"503"}, protocol.HeaderError: {"no body"}}}
	tests := []struct {
		name  string
		reply *nats.Msg
		want  client.Error
	}{
		{"batch step", step, client.Error{Status: 404, Code: "not_found", Message: "step 2 (accounts.get): gone", Op: "accounts.get"}},
		{"no body", bare, client.Error{Status: 503, Message: "no body"}},
		{"retryable", fail("409", "lock_wait_timeout", true), client.Error{Status: 409, Code: "lock_wait_timeout", Message: "lock_wait_timeout happened", Retryable: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, _ := setup(t, tt.reply)
			err := c.Call(context.Background(), "op", nil, nil)
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("Call: %v; want a *client.Error", err)
			}
			got := *e
			got.Step = nil
			if got != tt.want {
				t.Errorf("got %+v; want %+v", got, tt.want)
			}
			if tt.name == "batch step" && (e.Step == nil || *e.Step != 2) {
				t.Errorf("step %v; want 2", e.Step)
			}
		})
	}
}

func TestNoResponders(t *testing.T) {
	url := natstest.URL(t)
	c := client.New(natstest.Connect(t, url), "nobody")
	err := c.Call(context.Background(), "op", nil, nil)
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("Call: %v; want no responders", err)
	}
}
