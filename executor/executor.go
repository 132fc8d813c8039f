package executor

import (
	"context"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/batch"
	"github.com/dbapi-dev/dbapi/idempotency"
	"github.com/dbapi-dev/dbapi/replica"
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
	// Replicas, when set, serve the read-only requests (see
	// replica.Set.Pick), and the reply to every request that committed a
	// write carries the position it reached (Dbapi-Position).
	Replicas *replica.Set
	// ReplicaRunner makes the Runner of a replica's pool; default
	// txrunner.New with its default settings.
	ReplicaRunner func(db *sqlx.DB) Runner
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

// Executor runs requests as transactions. It is safe for concurrent use.
type Executor struct {
	runner     Runner
	statements StatementRunner // runner, if it runs statements in autocommit mode
	reg        *dbapi.Registry
	cfg        Config
	groups     *groupCommit // the operations that coalesce
	onReplicas map[*replica.Replica]Runner
}

// New returns an Executor running the operations of reg through runner.
func New(runner Runner, reg *dbapi.Registry, cfg Config) *Executor {
	cfg.setDefaults()
	e := &Executor{runner: runner, reg: reg, cfg: cfg}
	e.statements, _ = runner.(StatementRunner)
	e.groups = newGroupCommit(e, reg, cfg.Coalesce)
	e.replicaRunners()
	return e
}

// Registry returns the operations the executor runs.
func (e *Executor) Registry() *dbapi.Registry { return e.reg }

// Workers returns how many requests an instance with a pool of pool
// connections should run at once: one per connection, so that no request
// waits for a connection while another sits idle, plus the requests that
// wait in forming groups, which hold no connection (group commit).
func (e *Executor) Workers(pool int) int { return pool + e.groups.waiting() }

// Execute runs req as one transaction and returns its reply: the
// innermost Handler. ctx is the parent of the transaction's context:
// cancelling it rolls back what has not committed (a COMMIT in flight is
// never cut off). A request whose deadline passed before it ran is
// answered without running.
func (e *Executor) Execute(ctx context.Context, req Request) Reply {
	if req.Refusal != nil {
		return *req.Refusal
	}
	ctx, cancel, err := e.bound(ctx, &req)
	if err != nil {
		return ErrorReply(err)
	}
	defer cancel()
	op, err := e.plan(req)
	if err != nil {
		return ErrorReply(err)
	}
	if req.Op == batch.Name && op.Timeout > 0 {
		// A single operation's cap is in its deadline already (see
		// deadline); a batch's is known only now that it is planned.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, op.Timeout)
		defer cancel()
	}
	hooks := req.Hooks
	if req.IdempotencyKey != "" {
		if err := e.CheckKey(req.IdempotencyKey); err != nil {
			return ErrorReply(err)
		}
		hooks = append(hooks[:len(hooks):len(hooks)], e.idempotencyHook(req))
	}
	if e.cfg.Replicas != nil && op.ReadOnly && len(hooks) == 0 {
		if r, ok := e.onReplica(ctx, op, &req); ok {
			return r
		}
	}
	switch {
	case op.Statement != nil && e.statements != nil && len(hooks) == 0:
		// One read-only SELECT needs no BEGIN and COMMIT around it: in
		// autocommit mode it is its own transaction. A request with hooks
		// (an idempotency key) stores something, so it keeps its
		// transaction.
		return e.statement(ctx, e.statements, op, req.Body)
	case e.groups.coalesces(req.Op):
		return e.groups.run(ctx, op, req.Body, hooks)
	}
	return e.transact(ctx, e.runner, op, req.Body, hooks)
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
