package executor

import (
	"context"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/protocol"
)

// HeaderTimeout is the request header that sets the request's deadline, as
// a Go duration ("2s", "250ms"). It bounds the whole transaction, retries
// included.
const HeaderTimeout = protocol.HeaderTimeout

// Deadline returns the deadline of a request for op that arrived at now
// asking for timeout (a HeaderTimeout value; "" for the default): the
// default timeout or the one asked for, capped by the maximum and by the
// operation's own timeout.
func (e *Executor) Deadline(now time.Time, timeout, op string) (time.Time, error) {
	d := e.cfg.Timeout
	if timeout != "" {
		var err error
		d, err = time.ParseDuration(timeout)
		if err != nil || d <= 0 {
			return time.Time{}, dbapi.CodeErrorf(dbapi.EINVALID, "bad_timeout",
				"header %s: want a positive Go duration such as \"2s\"", HeaderTimeout)
		}
	}
	d = min(d, e.cfg.MaxTimeout)
	if o, ok := e.reg.Lookup(op); ok && o.Timeout > 0 {
		d = min(d, o.Timeout)
	}
	return now.Add(d), nil
}

// errWaitedTooLong answers a request whose deadline passed before it ran.
var errWaitedTooLong = dbapi.CodeErrorf(dbapi.ETIMEOUT, "timeout", "the deadline passed while the request waited; it was not run")

// bound refuses a request whose deadline passed before it was run, and
// bounds the rest by the deadline (the default one from now, for a
// request that has none).
func (e *Executor) bound(ctx context.Context, req *Request) (context.Context, context.CancelFunc, error) {
	now := time.Now()
	if req.Deadline.IsZero() {
		req.Deadline, _ = e.Deadline(now, "", req.Op)
	}
	if !now.Before(req.Deadline) {
		return nil, nil, errWaitedTooLong
	}
	ctx, cancel := context.WithDeadline(ctx, req.Deadline)
	return ctx, cancel, nil
}
