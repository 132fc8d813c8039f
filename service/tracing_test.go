package service

import (
	"encoding/json"
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
