package tracing

import (
	"context"
	"time"

	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/protocol"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys.
const (
	AttrOperation = attribute.Key("dbapi.operation")  // operation name, or "batch"
	AttrCode      = attribute.Key("dbapi.code")       // reply code: "ok" or the error code
	AttrRetries   = attribute.Key("dbapi.retries")    // attempts after the first
	AttrAttempt   = attribute.Key("dbapi.attempt")    // 1 for the first attempt
	AttrRequestID = attribute.Key("dbapi.request_id") // the request's id, as in the logs
)

// Span names besides the request's own (which is its subject's operation).
const (
	SpanQueue       = "queue wait"
	SpanTransaction = "transaction"
	SpanAttempt     = "attempt"
	SpanCommit      = "commit"
)

// ScopeName names the instrumentation.
const ScopeName = "github.com/dbapi-dev/dbapi/tracing"

// Tracer makes the spans of requests: its Middleware follows each
// request, whichever transport it came by, and Runner wraps the
// transaction runner.
type Tracer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// New returns a Tracer that makes spans with tp and reads the caller's
// trace with the W3C Trace Context propagator (and baggage).
func New(tp trace.TracerProvider) *Tracer {
	return &Tracer{
		tracer: tp.Tracer(ScopeName),
		prop:   propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
}

// Middleware gives each request a server span named after its
// operation, a child of the caller's span when the request's headers
// carry one (traceparent), from when the transport received the request
// to its reply, with a child span for the time it waited in the
// transport's queue; what runs for it runs under the span.
func (t *Tracer) Middleware(next executor.Handler) executor.Handler {
	return func(ctx context.Context, req executor.Request) executor.Reply {
		start := req.Received
		if start.IsZero() {
			start = time.Now()
		}
		ctx = t.prop.Extract(ctx, headerCarrier(req.Header))
		ctx, span := t.tracer.Start(ctx, req.Op, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start),
			trace.WithAttributes(AttrOperation.String(req.Op), AttrRequestID.String(executor.RequestID(ctx)),
				attribute.String("messaging.system", "nats")))
		if !req.Received.IsZero() && req.Refusal == nil {
			_, queue := t.tracer.Start(ctx, SpanQueue, trace.WithTimestamp(req.Received))
			queue.End()
		}
		r := next(context.WithValue(ctx, opKey{}, req.Op), req)
		span.SetAttributes(AttrCode.String(r.Code))
		if r.Code != "ok" {
			span.SetStatus(codes.Error, r.Code)
		}
		span.End()
		return r
	}
}

type opKey struct{}

// headerCarrier reads and writes a request's headers. Unlike
// http.Header, NATS headers are case-sensitive; a propagator's lower-case
// key also finds a header written in another case.
type headerCarrier map[string][]string

func (c headerCarrier) Get(key string) string {
	if v := protocol.Values(c, key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c headerCarrier) Set(key, value string) { c[key] = []string{value} }

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
