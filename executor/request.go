package executor

import (
	"context"
	"time"

	"github.com/dbapi-dev/dbapi/replica"
	"github.com/jmoiron/sqlx"
)

// Request is one request, however it arrived: a transport (package
// consumer, package durable) turns its message into a Request, and the
// Reply back into a message.
type Request struct {
	Op   string // an operation's name, or batch.Name
	Body []byte // the operation's params, or the batch
	// Header holds the headers the request came with, as the transport
	// got them, for the middleware that reads them (tracing reads the
	// caller's trace context). The executor reads what it needs of them
	// through FromHeaders.
	Header map[string][]string
	// ID names the request in logs and traces; the RequestID middleware
	// makes one when it is empty.
	ID string
	// Received is when the transport received the request (zero:
	// unknown): the time until it runs is its wait in the transport's
	// queue.
	Received time.Time
	// Deadline bounds the whole transaction, retries included. Zero means
	// the default timeout (capped by the operation's) from when Execute
	// is called.
	Deadline time.Time
	// IdempotencyKey is the request's Idempotency-Key, if any; Execute
	// checks it.
	IdempotencyKey string
	// After is the position of the request's Dbapi-After header: a
	// read-only request runs on a replica only once it has applied it.
	After replica.Position
	// Hooks run inside the request's transaction, in order, before the
	// idempotency claim.
	Hooks []TxHook
	// Refusal, when set, is the reply to a request its transport refused
	// before it could run (overloaded, stopping, a malformed header, a
	// body over the limit): the middleware sees it like any other request
	// (it is traced, counted and logged), and Execute answers it with
	// Refusal without running anything.
	Refusal *Reply
}

// Reply is the answer to a request: what a transport sends back.
type Reply struct {
	Status   int                 // StatusOK, or the error's status
	Code     string              // "ok", or the error code
	Header   map[string][]string // error or replay headers; nil for a plain success
	Body     []byte              // the result, or the error body
	Replayed bool                // the reply was stored earlier; nothing ran
	// Err is the error the reply reports (nil on success); it may hold
	// causes for logs that the client never sees.
	Err error
	// TxTime is how long the transaction took, retries included (zero if
	// none began).
	TxTime time.Duration
}

// TxHook reads and writes inside a request's transaction, so that what it
// stores commits exactly when the request's work does.
type TxHook interface {
	// Before runs before the operation. A non-nil reply answers the
	// request instead of running it (a replay); the transaction still
	// commits, with what earlier hooks' After wrote.
	Before(ctx context.Context, tx *sqlx.Tx) (*Reply, error)
	// After runs once the operation succeeded and its reply is encoded,
	// or with the reply a later hook's Before replayed.
	After(ctx context.Context, tx *sqlx.Tx, r Reply) error
}

// Handler answers a request: Executor.Execute is the innermost one, and
// each Middleware wraps one.
type Handler func(ctx context.Context, req Request) Reply

// Middleware is one concern of every request (recovery, request id,
// tracing, metrics, logs) wrapped around the next handler, in a file of
// its own, the way watermill's router composes its middleware.
type Middleware func(next Handler) Handler

// Chain returns the middleware that applies mws in order, the first
// outermost: Chain(a, b)(h) is a(b(h)).
func Chain(mws ...Middleware) Middleware {
	return func(h Handler) Handler {
		for i := len(mws) - 1; i >= 0; i-- {
			if mws[i] != nil {
				h = mws[i](h)
			}
		}
		return h
	}
}
