package executor

import (
	"context"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/batch"
	"github.com/dbapi-dev/dbapi/idempotency"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
)

// Defaults for zero Config fields.
const (
	DefaultTimeout    = 5 * time.Second
	DefaultMaxTimeout = time.Minute
)

// Config configures an Executor.
type Config struct {
	Timeout    time.Duration // deadline of a request that asks for none; default 5s
	MaxTimeout time.Duration // largest deadline a request may ask for; default 1m
	// MaxReply is the largest reply body in bytes; a larger result is a
	// 413 result_too_large and its transaction rolls back. Zero means no
	// limit.
	MaxReply int
	MaxBatch int // most steps in one batch; default batch.DefaultMaxSteps
	// Idempotency stores Idempotency-Key replies; nil refuses keyed
	// requests with 400.
	Idempotency *idempotency.Store
	// Coalesce bounds the groups of requests that share a transaction
	// (operations with Coalesce set).
	Coalesce CoalesceConfig
}

func (c *Config) setDefaults() {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = DefaultMaxTimeout
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = batch.DefaultMaxSteps
	}
	c.Coalesce.setDefaults()
}

// Runner runs a function as one transaction; *txrunner.Runner is one.
type Runner interface {
	Run(ctx context.Context, opts txrunner.Options, fn txrunner.Func) error
}

// StatementRunner is a Runner that also runs one read-only statement in
// autocommit mode (an Operation's Statement); *txrunner.Runner is one.
type StatementRunner interface {
	RunStatement(ctx context.Context, opts txrunner.Options, fn txrunner.StatementFunc) error
}

// Request is one request, however it arrived.
type Request struct {
	Op   string // an operation's name, or batch.Name
	Body []byte // the operation's params, or the batch
	// Deadline bounds the whole transaction, retries included. Zero means
	// the default timeout (capped by the operation's) from when Execute
	// is called.
	Deadline time.Time
	// IdempotencyKey is the request's Idempotency-Key, if any.
	IdempotencyKey string
	// Hooks run inside the request's transaction, in order, before the
	// idempotency claim.
	Hooks []TxHook
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

// Handler answers a request; the wrappers in this package are Handlers
// around Handlers.
type Handler func(ctx context.Context, req Request) Reply

// Executor runs requests as transactions. It is safe for concurrent use.
type Executor struct {
	runner Runner
	reg    *dbapi.Registry
	cfg    Config
	handle Handler
	// coalescers group the requests of each operation that coalesces.
	coalescers map[string]*coalescer
}

// New returns an Executor running the operations of reg through runner.
func New(runner Runner, reg *dbapi.Registry, cfg Config) *Executor {
	cfg.setDefaults()
	e := &Executor{runner: runner, reg: reg, cfg: cfg}
	if cfg.Coalesce.MaxGroup > 1 {
		for _, op := range reg.Operations() {
			if op.Coalesce {
				if e.coalescers == nil {
					e.coalescers = make(map[string]*coalescer)
				}
				e.coalescers[op.Name] = newCoalescer(cfg.Coalesce)
			}
		}
	}
	e.handle = recovering(e.withDeadline(e.run))
	return e
}

// Registry returns the operations the executor runs.
func (e *Executor) Registry() *dbapi.Registry { return e.reg }

// Execute runs req as one transaction and returns its reply. ctx is the
// parent of the transaction's context: cancelling it rolls back what has
// not committed (a COMMIT in flight is never cut off).
func (e *Executor) Execute(ctx context.Context, req Request) Reply {
	return e.handle(ctx, req)
}

// plan returns the operation req runs: a registered one, or a batch
// planned into one.
func (e *Executor) plan(req Request) (dbapi.Operation, error) {
	if req.Op == batch.Name {
		return batch.Plan(e.reg, req.Body, e.cfg.MaxBatch)
	}
	op, ok := e.reg.Lookup(req.Op)
	if !ok {
		return dbapi.Operation{}, dbapi.CodeErrorf(dbapi.ENOTFOUND, "unknown_operation", "unknown operation %q", req.Op)
	}
	return op, nil
}

// run executes req as one transaction.
func (e *Executor) run(ctx context.Context, req Request) Reply {
	hooks := req.Hooks
	if req.IdempotencyKey != "" {
		if err := e.CheckKey(req.IdempotencyKey); err != nil {
			return ErrorReply(err)
		}
		hooks = append(hooks[:len(hooks):len(hooks)], e.idempotencyHook(req))
	}
	op, err := e.plan(req)
	if err != nil {
		return ErrorReply(err)
	}
	if op.Timeout > 0 {
		// A single operation's cap is already in the deadline; a batch's
		// is known only now that it is planned.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, op.Timeout)
		defer cancel()
	}
	if sr, ok := e.runner.(StatementRunner); ok && op.Statement != nil && len(hooks) == 0 {
		// One read-only SELECT needs no BEGIN and COMMIT around it: in
		// autocommit mode it is its own transaction. A request with hooks
		// (an idempotency key) stores something, so it keeps its
		// transaction.
		return e.statement(ctx, sr, op, req)
	}
	if c := e.coalescers[req.Op]; c != nil {
		return e.coalesce(ctx, c, op, req, hooks)
	}
	return e.transact(ctx, op, req.Body, hooks)
}

// txOptions are the options of a transaction running op for requests
// with or without hooks: a request whose hooks store something must not
// run READ ONLY.
func txOptions(op dbapi.Operation, hooks bool) txrunner.Options {
	return txrunner.Options{Isolation: op.Isolation, ReadOnly: op.ReadOnly && !hooks}
}

// statement runs op's Statement in autocommit mode.
func (e *Executor) statement(ctx context.Context, sr StatementRunner, op dbapi.Operation, req Request) Reply {
	start := time.Now()
	var out Reply
	// The closure captures only what it uses: capturing op would move
	// the whole Operation to the heap on every request.
	stmt, body, maxReply := op.Statement, req.Body, e.cfg.MaxReply
	err := sr.RunStatement(ctx, txOptions(op, false), func(ctx context.Context, q sqlx.ExtContext) error {
		res, err := stmt(ctx, q, body)
		if err != nil {
			return err
		}
		b, err := encode(res, maxReply)
		out = Reply{Status: StatusOK, Code: "ok", Body: b}
		return err
	})
	if err != nil {
		out = ErrorReply(err)
	}
	out.TxTime = time.Since(start)
	return out
}

// transact runs one request for op as a transaction of its own.
func (e *Executor) transact(ctx context.Context, op dbapi.Operation, body []byte, hooks []TxHook) Reply {
	start := time.Now()
	var out Reply
	run := op.Run // not op: the closure would move the whole Operation to the heap
	err := e.runner.Run(ctx, txOptions(op, len(hooks) > 0), func(ctx context.Context, tx *sqlx.Tx) error {
		var err error
		out, err = e.attempt(ctx, tx, run, body, hooks)
		return err
	})
	if err != nil {
		out = ErrorReply(err)
	}
	out.TxTime = time.Since(start)
	return out
}

// attempt is one run of the request's transaction body.
func (e *Executor) attempt(ctx context.Context, tx *sqlx.Tx, run dbapi.Func, body []byte, hooks []TxHook) (Reply, error) {
	for i, h := range hooks {
		stored, err := h.Before(ctx, tx)
		if err != nil {
			return Reply{}, err
		}
		if stored != nil {
			return *stored, after(ctx, tx, hooks[:i], *stored)
		}
	}
	res, err := run(ctx, tx, body)
	if err != nil {
		return Reply{}, err
	}
	// Encode before COMMIT, so a result that cannot be sent rolls the
	// transaction back instead of being lost.
	b, err := encode(res, e.cfg.MaxReply)
	if err != nil {
		return Reply{}, err
	}
	r := Reply{Status: StatusOK, Code: "ok", Body: b}
	return r, after(ctx, tx, hooks, r)
}

func after(ctx context.Context, tx *sqlx.Tx, hooks []TxHook, r Reply) error {
	for _, h := range hooks {
		if err := h.After(ctx, tx, r); err != nil {
			return err
		}
	}
	return nil
}
