package tracing

import (
	"context"
	"strings"

	"github.com/dbapi-dev/dbapi/consumer"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys.
const (
	AttrOperation = attribute.Key("dbapi.operation") // operation name, or "batch"
	AttrCode      = attribute.Key("dbapi.code")      // reply code: "ok" or the error code
	AttrRetries   = attribute.Key("dbapi.retries")   // attempts after the first
	AttrAttempt   = attribute.Key("dbapi.attempt")   // 1 for the first attempt
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

// Tracer makes the spans of requests. It is a consumer.Tracer.
type Tracer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

var _ consumer.Tracer = (*Tracer)(nil)

// New returns a Tracer that makes spans with tp and reads the caller's
// trace with the W3C Trace Context propagator (and baggage).
func New(tp trace.TracerProvider) *Tracer {
	return &Tracer{
		tracer: tp.Tracer(ScopeName),
		prop:   propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
}

// Request starts the request's server span, a child of the caller's span
// when the headers carry one, and its queue wait span.
func (t *Tracer) Request(op string, h nats.Header) consumer.RequestTrace {
	ctx := t.prop.Extract(context.Background(), headerCarrier(h))
	ctx, span := t.tracer.Start(ctx, op, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(AttrOperation.String(op), attribute.String("messaging.system", "nats")))
	_, queue := t.tracer.Start(ctx, SpanQueue)
	return &request{ctx: ctx, span: span, queue: queue, op: op}
}

type request struct {
	ctx         context.Context
	span, queue trace.Span
	op          string
}

// Context puts the request's span into ctx (keeping ctx's deadline and
// cancellation).
func (r *request) Context(ctx context.Context) context.Context {
	return context.WithValue(trace.ContextWithSpan(ctx, r.span), opKey{}, r.op)
}

func (r *request) Dequeued() { r.queue.End() }

func (r *request) End(code string) {
	r.queue.End() // no-op if the request was dequeued
	r.span.SetAttributes(AttrCode.String(code))
	if code != "ok" {
		r.span.SetStatus(codes.Error, code)
	}
	r.span.End()
}

type opKey struct{}

// headerCarrier reads and writes NATS headers. Unlike http.Header, NATS
// headers are case-sensitive; a propagator's lower-case key also finds a
// header written in another case.
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string {
	if v := nats.Header(c).Get(key); v != "" {
		return v
	}
	for k, v := range c {
		if strings.EqualFold(k, key) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func (c headerCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
