package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/tracing"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// A request's traceparent header continues the caller's trace: the
// request's span is its child, with spans for the queue wait, the
// transaction, each attempt and the COMMIT, carrying the operation, the
// reply code and the retry count.
func TestTraceContinuesTheCallersTrace(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	e := newEnv(t)
	e.start(e.config(), func(m *Main) { m.TracerProvider = tp })
	ids := e.openAccounts(2, "10.00")

	send := func(traceparent string, params any) reply {
		body, _ := json.Marshal(params)
		return call(e.nc, e.prefix+".accounts.transfer", body, nats.Header{"traceparent": []string{traceparent}}, 30*time.Second)
	}
	const okTrace, okParent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	if r := send("00-"+okTrace+"-"+okParent+"-01", map[string]any{"from": ids[0], "to": ids[1], "amount": "1.00"}); r.status != 0 || r.err != nil {
		t.Fatalf("transfer: %v", r)
	}
	const failTrace, failParent = "1af7651916cd43dd8448eb211c80319d", "c7ad6b7169203332"
	if r := send("00-"+failTrace+"-"+failParent+"-01", map[string]any{"from": ids[0], "to": ids[1], "amount": "100.00"}); r.code != "insufficient_funds" {
		t.Fatalf("transfer beyond the balance: %v", r)
	}

	byTrace := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range sr.Ended() {
		byTrace[s.SpanContext().TraceID().String()] = append(byTrace[s.SpanContext().TraceID().String()], s)
	}
	check := func(traceID, parent, code string, wantCommit bool) {
		t.Helper()
		spans := map[string]sdktrace.ReadOnlySpan{}
		for _, s := range byTrace[traceID] {
			if _, dup := spans[s.Name()]; dup {
				t.Errorf("trace %s: two %q spans", traceID, s.Name())
			}
			spans[s.Name()] = s
		}
		req, ok := spans["accounts.transfer"]
		if !ok {
			t.Fatalf("trace %s has no request span; it has %v", traceID, names(byTrace[traceID]))
		}
		if got := req.Parent().SpanID().String(); got != parent || !req.Parent().IsRemote() {
			t.Errorf("request span's parent = %s (remote %v); want the caller's %s", got, req.Parent().IsRemote(), parent)
		}
		if req.SpanKind() != trace.SpanKindServer {
			t.Errorf("request span kind %v", req.SpanKind())
		}
		wantAttrs(t, req, tracing.AttrOperation.String("accounts.transfer"), tracing.AttrCode.String(code))
		childOf := func(name string, p sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
			t.Helper()
			s, ok := spans[name]
			if !ok {
				t.Errorf("trace %s has no %q span; it has %v", traceID, name, names(byTrace[traceID]))
				return nil
			}
			if s.Parent().SpanID() != p.SpanContext().SpanID() {
				t.Errorf("%q span's parent is %s; want %q %s", name, s.Parent().SpanID(), p.Name(), p.SpanContext().SpanID())
			}
			return s
		}
		childOf(tracing.SpanQueue, req)
		tx := childOf(tracing.SpanTransaction, req)
		if tx == nil {
			return
		}
		wantAttrs(t, tx, tracing.AttrOperation.String("accounts.transfer"), tracing.AttrCode.String(code), tracing.AttrRetries.Int(0))
		if a := childOf(tracing.SpanAttempt, tx); a != nil {
			wantAttrs(t, a, tracing.AttrAttempt.Int(1))
			if (a.Status().Code == codes.Error) == wantCommit {
				t.Errorf("attempt status %v", a.Status())
			}
		}
		if _, ok := spans[tracing.SpanCommit]; ok != wantCommit {
			t.Errorf("commit span present: %v; want %v", ok, wantCommit)
		} else if ok {
			childOf(tracing.SpanCommit, tx)
		}
	}
	check(okTrace, okParent, "ok", true)
	check(failTrace, failParent, "insufficient_funds", false)

	// Requests without a traceparent start traces of their own.
	for id, spans := range byTrace {
		if id == okTrace || id == failTrace {
			continue
		}
		for _, s := range spans {
			if s.Name() == "accounts.open" && s.Parent().IsValid() {
				t.Errorf("untraced request's span has a parent %s", s.Parent().SpanID())
			}
		}
	}
	if len(byTrace) != 4 {
		t.Errorf("%d traces; want 4 (2 accounts opened, 2 transfers)", len(byTrace))
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var n []string
	for _, s := range spans {
		n = append(n, s.Name())
	}
	return n
}

func wantAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want ...attribute.KeyValue) {
	t.Helper()
	have := map[attribute.Key]attribute.Value{}
	for _, a := range s.Attributes() {
		have[a.Key] = a.Value
	}
	for _, w := range want {
		if v, ok := have[w.Key]; !ok || v != w.Value {
			t.Errorf("%q span: %s = %v; want %v", s.Name(), w.Key, v.String(), w.Value.String())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the service's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A durable request goes through the same request path as a
// request-reply one: its span continues the publisher's trace (the
// traceparent header of the JetStream message), with the request id the
// log lines about it carry.
func TestDurableRequestIsTracedAndLogged(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	var logs syncBuffer
	e, js := newDurableEnv(t)
	e.start(e.durableConfig(), func(m *Main) {
		m.TracerProvider = tp
		m.Logger = slog.New(contextHandler{slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})})
	})
	ids := e.openAccounts(2, "10.00")
	const traceID, parent = "2af7651916cd43dd8448eb211c80319e", "d7ad6b7169203333"
	body := []byte(fmt.Sprintf(`{"from":%d,"to":%d,"amount":"100.00"}`, ids[0], ids[1])) // more than the balance
	publish(t, js, e.prefix+".durable.accounts.transfer", body, "traced-1",
		nats.Header{"traceparent": {"00-" + traceID + "-" + parent + "-01"}})
	waitOutcomes(t, e.sqlx(), 1, 20*time.Second)

	var req sdktrace.ReadOnlySpan
	deadline := time.Now().Add(10 * time.Second)
	for req == nil && time.Now().Before(deadline) {
		for _, s := range sr.Ended() {
			if s.SpanContext().TraceID().String() == traceID && s.Name() == "accounts.transfer" {
				req = s
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if req == nil {
		t.Fatal("the durable request has no span in the publisher's trace")
	}
	if got := req.Parent().SpanID().String(); got != parent {
		t.Errorf("durable request span's parent %s; want the publisher's %s", got, parent)
	}
	wantAttrs(t, req, tracing.AttrCode.String("insufficient_funds"))
	var id string
	for _, a := range req.Attributes() {
		if a.Key == tracing.AttrRequestID {
			id = a.Value.AsString()
		}
	}
	if id == "" {
		t.Fatal("the durable request's span has no request id")
	}
	found := false
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		m, err := jsonLine(line)
		if err != nil {
			t.Fatal(err)
		}
		if m["msg"] == "request failed" && m["op"] == "accounts.transfer" {
			found = true
			if m["request_id"] != id || m["trace_id"] != traceID || m["code"] != "insufficient_funds" {
				t.Errorf("log line %s; want request_id %s and trace_id %s", line, id, traceID)
			}
		}
	}
	if !found {
		t.Errorf("no log line about the failed durable request in:\n%s", logs.String())
	}
}
