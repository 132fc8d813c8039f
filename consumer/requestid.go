package consumer

import (
	"context"

	"github.com/nats-io/nuid"
)

// Every request gets an id, carried in the context of its transaction and
// of the consumer's log lines about it, so that a log handler can put it
// on every line about the request (the service's does, with the trace id
// when tracing is on).

type requestIDKey struct{}

// RequestID returns the id of the request whose work or log line ctx
// belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func withRequestID(ctx context.Context, id string) context.Context {
	return &requestCtx{ctx, id}
}

// requestCtx is ctx carrying a request id: what context.WithValue does, in
// one allocation instead of two (the context and the boxed id), on every
// request. The id is boxed only when asked for.
type requestCtx struct {
	context.Context
	id string
}

func (c *requestCtx) Value(key any) any {
	if _, ok := key.(requestIDKey); ok {
		return c.id
	}
	return c.Context.Value(key)
}

func newRequestID() string { return nuid.Next() }

// logCtx is the context of log lines about j: its id and its trace.
func (j *job) logCtx() context.Context {
	return withRequestID(j.trace.Context(context.Background()), j.id)
}
