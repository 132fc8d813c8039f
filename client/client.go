package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
)

// Defaults of a Client.
const (
	// DefaultTimeout bounds a call whose context has no deadline.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxAttempts is how many times a call is sent at most: the
	// first time and the retries of retryable errors.
	DefaultMaxAttempts = 4
	// DefaultBaseBackoff and DefaultMaxBackoff bound the wait before a
	// retry: up to base·2^(n-1), at most max, chosen at random.
	DefaultBaseBackoff = 50 * time.Millisecond
	DefaultMaxBackoff  = time.Second
)

// replyAllowance is kept back from the time left on a call's context when
// it is sent as Dbapi-Timeout, so the service's timeout reply can still
// reach the caller before the caller gives up: a twentieth of the time
// left, at most this much.
const replyAllowance = 50 * time.Millisecond

// Client calls the operations of one dbapi service. It is safe for
// concurrent use.
type Client struct {
	nc          *nats.Conn
	prefix      string
	timeout     time.Duration
	maxAttempts int
	baseBackoff time.Duration
	maxBackoff  time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithTimeout sets the deadline of calls whose context has none
// (default DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithRetries sets how many times a call is sent at most (1 means no
// retries) and the bounds of the backoff between tries.
func WithRetries(maxAttempts int, base, max time.Duration) Option {
	return func(c *Client) {
		if maxAttempts > 0 {
			c.maxAttempts = maxAttempts
		}
		if base > 0 {
			c.baseBackoff = base
		}
		if max >= c.baseBackoff {
			c.maxBackoff = max
		}
	}
}

// New returns a client of the service whose subjects start with prefix
// (the service's DBAPI_PREFIX, "dbapi" by default), over nc.
func New(nc *nats.Conn, prefix string, opts ...Option) *Client {
	c := &Client{nc: nc, prefix: prefix, timeout: DefaultTimeout,
		maxAttempts: DefaultMaxAttempts, baseBackoff: DefaultBaseBackoff, maxBackoff: DefaultMaxBackoff}
	for _, o := range opts {
		o(c)
	}
	return c
}

// CallOption configures one call.
type CallOption func(*call)

type call struct {
	key      string
	newKey   bool
	replayed *bool
	attempts *int
	after    string
	position *string
}

// WithIdempotencyKey sends key as the call's Idempotency-Key: the service
// runs the operation at most once for it and replays the reply to
// repeats. Keys must be unguessable (see NewKey): whoever knows a key and
// the body can read its reply.
func WithIdempotencyKey(key string) CallOption {
	return func(c *call) { c.key = key }
}

// WithNewIdempotencyKey sends a new random key (NewKey) with the call, the
// same for each of its retries.
func WithNewIdempotencyKey() CallOption {
	return func(c *call) { c.newKey = true }
}

// Replayed makes the call report in *b whether its reply was replayed for
// its idempotency key instead of run.
func Replayed(b *bool) CallOption {
	return func(c *call) { c.replayed = b }
}

// Attempts makes the call report in *n how many times it was sent.
func Attempts(n *int) CallOption {
	return func(c *call) { c.attempts = n }
}

// After sends token (a Dbapi-Position a reply carried) as the call's
// Dbapi-After header: when the service reads from replicas, the call runs
// on one only once it has applied that position, else on the primary, so
// it sees the write that position came from. An empty token sends
// nothing. Session does this for every call.
func After(token string) CallOption {
	return func(c *call) { c.after = token }
}

// ReplyPosition makes the call report in *p the reply's Dbapi-Position
// header: the position of the write the call committed, when the service
// has replicas ("" when the reply carries none).
func ReplyPosition(p *string) CallOption {
	return func(c *call) { c.position = p }
}

// NewKey returns a new random idempotency key: a version 4 UUID (122
// random bits), unguessable by other clients.
func NewKey() string { return uuid.NewString() }

// Call runs operation op with params and decodes its result into result
// (unless result is nil). params is encoded as JSON; a []byte or
// json.RawMessage is sent as it is; nil sends an empty body.
//
// The time left on ctx (or the client's timeout when ctx has none) is sent
// as Dbapi-Timeout. An error reply is returned as an *Error; a retryable
// one is first retried with the same idempotency key, after a jittered
// backoff, as long as attempts and ctx allow. Transport errors (no
// responders, ctx done) are returned as they are and not retried: a
// request whose reply was lost may have run.
func (c *Client) Call(ctx context.Context, op string, params, result any, opts ...CallOption) error {
	var o call
	for _, f := range opts {
		f(&o)
	}
	if o.newKey && o.key == "" {
		o.key = NewKey()
	}
	body, err := encode(params)
	if err != nil {
		return fmt.Errorf("dbapi %s: encode params: %w", op, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var last *Error // the error reply of the previous try
	for attempt := 1; ; attempt++ {
		if o.attempts != nil {
			*o.attempts = attempt
		}
		reply, err := c.send(ctx, op, body, &o)
		if err != nil {
			if last != nil && (ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded)) {
				// The retry ran out of time: the service's last word
				// says more than the context's.
				return last
			}
			return err
		}
		if o.position != nil {
			*o.position = ""
			if vals := protocol.Values(reply.Header, protocol.HeaderPosition); len(vals) > 0 {
				*o.position = vals[0]
			}
		}
		var e *Error
		if e = replyError(reply); e == nil {
			if o.replayed != nil {
				vals := protocol.Values(reply.Header, protocol.HeaderReplayed)
				*o.replayed = len(vals) > 0 && vals[0] == "true"
			}
			if result == nil {
				return nil
			}
			if err := json.Unmarshal(reply.Data, result); err != nil {
				return fmt.Errorf("dbapi %s: decode result: %w", op, err)
			}
			return nil
		}
		if !e.Retryable || attempt >= c.maxAttempts || !c.wait(ctx, attempt) {
			return e
		}
		last = e
	}
}

// send sends one request and waits for its reply.
func (c *Client) send(ctx context.Context, op string, body []byte, o *call) (*nats.Msg, error) {
	deadline, _ := ctx.Deadline()
	left := time.Until(deadline)
	left -= min(left/20, replyAllowance)
	if left < time.Millisecond {
		return nil, fmt.Errorf("dbapi %s: %w", op, context.DeadlineExceeded)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("dbapi %s: %w", op, ctx.Err())
	}
	msg := nats.NewMsg(c.prefix + "." + op)
	msg.Data = body
	msg.Header.Set(protocol.HeaderTimeout, left.Round(time.Millisecond).String())
	if o.key != "" {
		msg.Header.Set(protocol.HeaderIdempotencyKey, o.key)
	}
	if o.after != "" {
		msg.Header.Set(protocol.HeaderAfter, o.after)
	}
	reply, err := c.nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("dbapi %s: %w", op, err)
	}
	return reply, nil
}

// wait sleeps before retry number attempt, and reports false if ctx would
// end first.
func (c *Client) wait(ctx context.Context, attempt int) bool {
	ceiling := c.baseBackoff << min(attempt-1, 20)
	if ceiling > c.maxBackoff || ceiling <= 0 {
		ceiling = c.maxBackoff
	}
	d := time.Duration(rand.Int64N(int64(ceiling))) + time.Millisecond
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d+time.Millisecond {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func encode(params any) ([]byte, error) {
	switch p := params.(type) {
	case nil:
		return nil, nil
	case []byte:
		return p, nil
	case json.RawMessage:
		return p, nil
	}
	return json.Marshal(params)
}

// Step returns a batch step running op with params; as, when not empty,
// names its result for references ("$as.field") in later steps.
func Step(op string, params any, as string) (protocol.BatchStep, error) {
	body, err := encode(params)
	if err != nil {
		return protocol.BatchStep{}, fmt.Errorf("dbapi batch step %s: encode params: %w", op, err)
	}
	return protocol.BatchStep{Op: op, Params: body, As: as}, nil
}

// Batch runs steps in order in one transaction and returns one result per
// step. A failed step comes back as an *Error whose Step and Op name it.
func (c *Client) Batch(ctx context.Context, steps []protocol.BatchStep, opts ...CallOption) ([]json.RawMessage, error) {
	return batch(ctx, c.Call, steps, opts...)
}

// batch runs a batch through call (a Client's or a Session's).
func batch(ctx context.Context, call func(context.Context, string, any, any, ...CallOption) error,
	steps []protocol.BatchStep, opts ...CallOption) ([]json.RawMessage, error) {
	var res protocol.BatchResult
	if err := call(ctx, protocol.BatchOperation, protocol.BatchRequest{Ops: steps}, &res, opts...); err != nil {
		return nil, err
	}
	if len(res.Results) != len(steps) {
		return nil, fmt.Errorf("dbapi batch: the reply has %d results for %d steps", len(res.Results), len(steps))
	}
	return res.Results, nil
}
