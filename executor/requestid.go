package executor

import (
	"context"

	"github.com/nats-io/nuid"
)

// Every request has an id, carried in the context of its transaction and
// of the log lines about it, so that a log handler can put it on every
// line about the request (the service's does, with the trace id when
// tracing is on).

type requestIDKey struct{}

// RequestID returns the id of the request whose work or log line ctx
// belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// NewRequestID returns a new request id (a NUID: unique, cheap to make).
func NewRequestID() string { return nuid.Next() }

// WithRequestID returns ctx carrying the request id id.
func WithRequestID(ctx context.Context, id string) context.Context {
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

// RequestIDs gives every request an id (its transport's, else a new one)
// and puts it in the context of what runs for it.
func RequestIDs(next Handler) Handler {
	return func(ctx context.Context, req Request) Reply {
		if req.ID == "" {
			req.ID = NewRequestID()
		}
		return next(WithRequestID(ctx, req.ID), req)
	}
}
