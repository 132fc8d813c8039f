package tracing

import (
	"context"
	"testing"

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
			req := tr.Request("accounts.transfer", nil)
			req.Dequeued()
			attempt := 0
			err := tr.Runner(tt.runner).Run(req.Context(context.Background()), txrunner.Options{}, func(ctx context.Context, _ *sqlx.Tx) error {
				attempt++
				return tt.body(attempt)
			})
			code := "ok"
			if err != nil {
				code = dbapi.AsError(err).ErrorCode()
			}
			req.End(code)
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
		req := tr.Request("accounts.get", nil)
		attempt := 0
		err := tr.Runner(c.runner).(executor.StatementRunner).RunStatement(req.Context(context.Background()), txrunner.Options{ReadOnly: true},
			func(ctx context.Context, _ sqlx.ExtContext) error {
				if attempt++; attempt == 1 {
					return dbapi.CodeErrorf(dbapi.ECONFLICT, "deadlock", "deadlock")
				}
				return nil
			})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		req.End("ok")
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
