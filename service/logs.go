package service

import (
	"context"
	"log/slog"
	"time"

	"github.com/dbapi-dev/dbapi/executor"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"
)

// warnEvery is the interval of the counted warnings (requests refused as
// overloaded, requests dropped by the NATS client).
const warnEvery = 10 * time.Second

// contextHandler adds to each line logged with a request's context the
// request's id and, when tracing is on, its trace id.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := executor.RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(as)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}

// refused counts requests answered without being run because the
// service is overloaded or stopping: one warning per interval, not one a
// request.
func (m *Main) refused(op, code string) {
	switch code {
	case "overloaded":
		m.rate.Add("requests refused as overloaded (the queue is full: DBAPI_QUEUE_LEN, DBAPI_QUEUE_BYTES)", "last_op", op)
	case "stopping":
		m.rate.Add("requests refused: this instance is stopping", "last_op", op)
	}
}

// slowConsumer counts requests the NATS client dropped because they
// arrived faster than the service could take them.
func (m *Main) slowConsumer(sub *nats.Subscription) {
	var dropped int
	if sub != nil {
		dropped, _ = sub.Dropped()
	}
	subject := ""
	if sub != nil {
		subject = sub.Subject
	}
	m.rate.Add("NATS client dropped requests (slow consumer: they arrived faster than the service could take them; their clients time out)",
		"last_subject", subject, "dropped_on_subject", dropped)
}
