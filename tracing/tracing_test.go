package tracing

import (
	"context"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// retrying runs fn as txrunner does after a deadlock: the first attempt
// fails, the second commits. (No database: the spans are what is tested;
// the service's test runs the real runner.)
type retrying struct{ commitFails bool }

func (r retrying) Run(ctx context.Context, _ txrunner.Options, fn txrunner.Func) error {
	if err := fn(ctx, nil); err == nil && !r.commitFails {
		return nil
	}
	return fn(ctx, nil)
}

func TestRunnerSpans(t *testing.T) {
	tests := []struct {
		name        string
		runner      retrying
		body        func(attempt int) error
		wantRetries int64
		wantCommits int
		wantCode    string
	}{
		{"deadlock then commit", retrying{}, func(a int) error {
			if a == 1 {
				return dbapi.CodeErrorf(dbapi.EUNAVAILABLE, "deadlock", "deadlock")
			}
			return nil
		}, 1, 1, "ok"},
		{"commit fails, retried", retrying{commitFails: true}, func(int) error { return nil }, 1, 2, "ok"},
		{"refused", retrying{}, func(int) error { return dbapi.CodeErrorf(dbapi.EINVALID, "bad_param", "no") }, 1, 0, "bad_param"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sr := tracetest.NewSpanRecorder()
			tr := New(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)))
			attempt := 0
			h := tr.Middleware(func(ctx context.Context, _ executor.Request) executor.Reply {
				err := tr.Runner(tt.runner).Run(ctx, txrunner.Options{}, func(ctx context.Context, _ *sqlx.Tx) error {
					attempt++
					return tt.body(attempt)
				})
				if err != nil {
					return executor.ErrorReply(err)
				}
				return executor.Reply{Code: "ok"}
			})
			h(context.Background(), executor.Request{Op: "accounts.transfer", Received: time.Now()})
			count := map[string]int{}
			for _, s := range sr.Ended() {
				count[s.Name()]++
				attrs := map[attribute.Key]attribute.Value{}
				for _, a := range s.Attributes() {
					attrs[a.Key] = a.Value
				}
				switch s.Name() {
				case SpanTransaction:
					if attrs[AttrRetries].AsInt64() != tt.wantRetries || attrs[AttrCode].AsString() != tt.wantCode ||
						attrs[AttrOperation].AsString() != "accounts.transfer" {
						t.Errorf("transaction span attributes %v", s.Attributes())
					}
				case SpanAttempt:
					if n := attrs[AttrAttempt].AsInt64(); n < 1 || n > 2 {
						t.Errorf("attempt %d", n)
					}
				}
			}
			if count[SpanAttempt] != 2 || count[SpanCommit] != tt.wantCommits || count[SpanTransaction] != 1 || count[SpanQueue] != 1 || count["accounts.transfer"] != 1 {
				t.Errorf("spans %v", count)
			}
		})
	}
}

func TestEnabled(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x:4318/v1/traces"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, false},
	}
	for _, tt := range tests {
		for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"} {
			t.Setenv(k, tt.env[k])
		}
		if got := Enabled(); got != tt.want {
			t.Errorf("Enabled() with %v = %v, want %v", tt.env, got, tt.want)
		}
	}
}

// headerCarrier finds the traceparent whatever the header's case.
func TestHeaderCarrier(t *testing.T) {
	for _, key := range []string{"traceparent", "Traceparent", "TRACEPARENT"} {
		c := headerCarrier{key: {"v"}}
		if c.Get("traceparent") != "v" {
			t.Errorf("%s not found", key)
		}
	}
}

// retryingStatement is retrying for statements run in autocommit mode.
type retryingStatement struct{ retrying }

func (retryingStatement) RunStatement(ctx context.Context, _ txrunner.Options, fn txrunner.StatementFunc) error {
	if err := fn(ctx, nil); err == nil {
		return nil
	}
	return fn(ctx, nil)
}

// A statement in autocommit mode gets a transaction span marked
// autocommit, its attempts, and no COMMIT span; through a runner that
// cannot run one alone it runs (and is traced) as a transaction.
func TestRunStatementSpans(t *testing.T) {
	for _, c := range []struct {
		name              string
		runner            executor.Runner
		autocommit        bool
		attempts, commits int
	}{
		{"autocommit", retryingStatement{}, true, 2, 0},
		{"in a transaction", retrying{}, false, 2, 1},
	} {
		sr := tracetest.NewSpanRecorder()
		tr := New(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)))
		attempt := 0
		var err error
		tr.Middleware(func(ctx context.Context, _ executor.Request) executor.Reply {
			err = tr.Runner(c.runner).(executor.StatementRunner).RunStatement(ctx, txrunner.Options{ReadOnly: true},
				func(ctx context.Context, _ sqlx.ExtContext) error {
					if attempt++; attempt == 1 {
						return dbapi.CodeErrorf(dbapi.ECONFLICT, "deadlock", "deadlock")
					}
					return nil
				})
			return executor.Reply{Code: "ok"}
		})(context.Background(), executor.Request{Op: "accounts.get"})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		count := map[string]int{}
		for _, s := range sr.Ended() {
			count[s.Name()]++
			if s.Name() != SpanTransaction {
				continue
			}
			auto := false
			for _, a := range s.Attributes() {
				if a.Key == "db.autocommit" {
					auto = a.Value.AsBool()
				}
			}
			if auto != c.autocommit {
				t.Errorf("%s: transaction span autocommit %v, want %v", c.name, auto, c.autocommit)
			}
		}
		if count[SpanTransaction] != 1 || count[SpanAttempt] != c.attempts || count[SpanCommit] != c.commits {
			t.Errorf("%s: spans %v", c.name, count)
		}
	}
}

// The middleware's server span continues the caller's trace (whatever
// the traceparent header's case), starts when the transport received the
// request, holds a queue span up to when it ran, carries the request id
// and the reply code; a refused request has no queue span.
func TestMiddleware(t *testing.T) {
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tt := range []struct {
		name    string
		refused bool
		code    string
		queue   int
	}{
		{"ran", false, "ok", 1},
		{"refused", true, "overloaded", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sr := tracetest.NewSpanRecorder()
			tr := New(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)))
			received := time.Now().Add(-50 * time.Millisecond)
			req := executor.Request{Op: "accounts.get", ID: "req-1", Received: received,
				Header: map[string][]string{"TraceParent": {parent}}}
			if tt.refused {
				r := executor.ErrorReply(dbapi.CodeErrorf(dbapi.EOVERLOADED, "overloaded", "busy"))
				req.Refusal = &r
			}
			h := executor.Chain(executor.RequestIDs, tr.Middleware)(func(ctx context.Context, req executor.Request) executor.Reply {
				if req.Refusal != nil {
					return *req.Refusal
				}
				return executor.Reply{Code: "ok"}
			})
			h(context.Background(), req)
			var server sdktrace.ReadOnlySpan
			var queues []sdktrace.ReadOnlySpan
			for _, s := range sr.Ended() {
				switch s.Name() {
				case "accounts.get":
					server = s
				case SpanQueue:
					queues = append(queues, s)
				}
			}
			if server == nil {
				t.Fatal("no server span")
			}
			queue := len(queues)
			for _, q := range queues {
				if !q.StartTime().Equal(received) || q.Parent().SpanID() != server.SpanContext().SpanID() {
					t.Errorf("queue span from %v under %v; want from %v under the server span", q.StartTime(), q.Parent().SpanID(), received)
				}
			}
			if got := server.SpanContext().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
				t.Errorf("trace %s: the caller's trace was not continued", got)
			}
			if !server.StartTime().Equal(received) {
				t.Errorf("server span starts %v; want when the request was received, %v", server.StartTime(), received)
			}
			attrs := map[attribute.Key]attribute.Value{}
			for _, a := range server.Attributes() {
				attrs[a.Key] = a.Value
			}
			if attrs[AttrRequestID].AsString() != "req-1" || attrs[AttrCode].AsString() != tt.code {
				t.Errorf("server span attributes %v", server.Attributes())
			}
			if queue != tt.queue {
				t.Errorf("%d queue spans; want %d", queue, tt.queue)
			}
		})
	}
}
