package txrunner

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/jmoiron/sqlx"
)

// Defaults used when Config leaves a field at zero.
const (
	DefaultMaxAttempts = 10
	DefaultBaseBackoff = 2 * time.Millisecond
	DefaultMaxBackoff  = 250 * time.Millisecond
)

// Options are the per-call settings of a transaction.
type Options struct {
	// Isolation is the isolation level; zero is the server default.
	Isolation sql.IsolationLevel
	// ReadOnly begins the transaction READ ONLY.
	ReadOnly bool
	// AttemptTimeout, when not zero, bounds each attempt. The caller's
	// context still bounds the whole call, retries and backoff included.
	AttemptTimeout time.Duration
	// MaxAttempts caps the number of attempts; zero means the runner's.
	MaxAttempts int
	// AfterCommit, when set, is called once the COMMIT succeeded, on the
	// connection that committed, before it goes back to the pool: to read
	// the position the commit reached (package replica). Its context
	// outlives the request's by up to a second; what it does cannot fail
	// the transaction, which has committed.
	AfterCommit func(ctx context.Context, conn *sqlx.Conn)
}

// afterCommitTimeout bounds Options.AfterCommit.
const afterCommitTimeout = time.Second

// Config configures a Runner.
type Config struct {
	MaxAttempts int           // default DefaultMaxAttempts
	BaseBackoff time.Duration // first retry waits up to this long; default DefaultBaseBackoff
	MaxBackoff  time.Duration // no retry waits longer; default DefaultMaxBackoff
	Logger      *slog.Logger  // default slog.Default()
	// OnRetry, when set, is called before each retry with its cause: the
	// error code ("deadlock", "lock_wait_timeout", "unavailable").
	OnRetry func(cause string)
}

// Runner runs transactions on a pool. It is safe for concurrent use.
type Runner struct {
	db  *sqlx.DB
	cfg Config
}

// New returns a Runner on db.
func New(db *sqlx.DB, cfg Config) *Runner {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = DefaultBaseBackoff
	}
	if cfg.MaxBackoff < cfg.BaseBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.BaseBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Runner{db: db, cfg: cfg}
}

// DB returns the pool the runner uses.
func (r *Runner) DB() *sqlx.DB { return r.db }

// Func is the body of a transaction. See the package documentation for
// what it may and may not do.
type Func func(ctx context.Context, tx *sqlx.Tx) error

// Run runs fn in a transaction and commits it. It returns nil only if the
// COMMIT succeeded. Errors are *dbapi.Error values (errors.Is works with the
// dbapi sentinels); an error fn returned as a *dbapi.Error comes back as is.
func (r *Runner) Run(ctx context.Context, opts Options, fn Func) error {
	maxAttempts := opts.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = r.cfg.MaxAttempts
	}
	for attempt := 1; ; attempt++ {
		err, retry := r.attempt(ctx, opts, fn)
		if err == nil {
			return nil
		}
		if !retry || attempt >= maxAttempts {
			return failure(ctx, err)
		}
		cause := classify(err).ErrorCode()
		r.cfg.Logger.DebugContext(ctx, "retrying transaction", "attempt", attempt, "cause", cause)
		if r.cfg.OnRetry != nil {
			r.cfg.OnRetry(cause)
		}
		if err := r.sleep(ctx, attempt); err != nil {
			return failure(ctx, err)
		}
	}
}

// failure classifies the error that ends Run. A connection that failed
// once the deadline had passed (the driver may report the cut-off dial or
// handshake as a broken connection rather than as the context's error) is
// a timeout: nothing was committed and the request ran out of time.
func failure(ctx context.Context, err error) *dbapi.Error {
	e := classify(err)
	if e.Kind == dbapi.EUNAVAILABLE && ctx.Err() != nil {
		return &dbapi.Error{Kind: dbapi.ETIMEOUT, Message: "the deadline passed while connecting to the database; nothing was committed", Err: err}
	}
	return e
}

// sleep waits a jittered exponential backoff, or until ctx is done.
func (r *Runner) sleep(ctx context.Context, attempt int) error {
	ceiling := r.cfg.BaseBackoff << min(attempt-1, 20)
	if ceiling > r.cfg.MaxBackoff || ceiling <= 0 {
		ceiling = r.cfg.MaxBackoff
	}
	d := time.Duration(rand.Int64N(int64(ceiling))) + 1
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// attempt runs fn once. retry reports whether the whole transaction may be
// run again: it was certainly rolled back and the cause may pass.
//
// The transaction runs on a connection taken from the pool for it alone,
// so that one whose server cannot serve now (see discards) is closed
// instead of going back to the pool.
func (r *Runner) attempt(ctx context.Context, opts Options, fn Func) (err error, retry bool) {
	if opts.AttemptTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.AttemptTimeout)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return err, false
	}
	conn, err := r.db.Connx(ctx)
	if err != nil {
		// Nothing ran yet, so a broken connection is safe to retry.
		return fmt.Errorf("connect: %w", err), isConnError(err) && ctx.Err() == nil
	}
	defer func() { release(conn, err) }()
	tx, err := conn.BeginTxx(ctx, &sql.TxOptions{Isolation: opts.Isolation, ReadOnly: opts.ReadOnly})
	if err != nil {
		// Nothing ran yet, so a broken connection is safe to retry.
		return fmt.Errorf("begin: %w", err), (isConnError(err) || isRetryable(err)) && ctx.Err() == nil
	}
	if err := callFn(ctx, tx, fn); err != nil {
		r.rollback(ctx, tx)
		return err, isRetryable(err) && ctx.Err() == nil
	}
	// The deadline may have passed after fn's last statement. Nothing is
	// committed yet, so give up cleanly rather than commit late.
	if err := ctx.Err(); err != nil {
		r.rollback(ctx, tx)
		return err, false
	}
	// database/sql does not cancel a Commit that has started, even if ctx
	// ends meanwhile: the COMMIT is never cut off by the requester's deadline.
	if err, retry = commitError(tx.Commit()); err == nil && opts.AfterCommit != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), afterCommitTimeout)
		opts.AfterCommit(actx, conn)
		cancel()
	}
	return err, retry
}

// release gives the connection of an attempt back to the pool, or closes
// it if err says its server cannot serve now.
func release(conn *sqlx.Conn, err error) {
	if err != nil && discards(err) {
		// database/sql closes a connection whose Raw call reports it bad.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	_ = conn.Close()
}

// callFn calls fn, turning a panic into an error so the transaction rolls
// back and the process lives on.
func callFn(ctx context.Context, tx *sqlx.Tx, fn Func) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = dbapi.PanicError("in transaction", p)
		}
	}()
	return fn(ctx, tx)
}

func (r *Runner) rollback(ctx context.Context, tx *sqlx.Tx) {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		// The server rolls back on its own when the connection closes.
		r.cfg.Logger.DebugContext(ctx, "rollback failed", "err", err)
	}
}

// commitUnknown lists the server errors that, answered to a COMMIT, do not
// say whether it took effect: a cluster node that lost the cluster while
// replicating the transaction (Galera's "WSREP has not yet prepared node"
// 1047, and 1180 "Error while appending streaming replication fragment
// (provider status: Not connected to Primary Component)", measured after
// a ~6 s wait) cannot know whether the other nodes committed its write
// set.
var commitUnknown = map[uint16]bool{erUnknownCom: true, erErrorDuringCommit: true}

// commitError sorts a COMMIT's error into what is known about the outcome.
func commitError(err error) (error, bool) {
	switch {
	case err == nil:
		return nil, false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, sql.ErrTxDone):
		// database/sql checked the context before sending COMMIT and
		// rolled the transaction back.
		return err, false
	}
	if n, ok := mysqlNumber(err); ok && !commitUnknown[n] {
		// The server answered: the transaction did not commit.
		if n == erLockDeadlock {
			// InnoDB reports a deadlock at a statement that waits for a
			// lock, never at COMMIT: a 1213 at COMMIT is a cluster's
			// certification failure (Galera says "Deadlock found when
			// trying to get lock", as InnoDB does).
			return &dbapi.Error{Kind: certification.kind, Code: certification.code, Message: certification.message, Err: err}, true
		}
		return err, isRetryable(err)
	}
	return &dbapi.Error{
		Kind:    dbapi.ECOMMITUNKNOWN,
		Message: "the commit was sent but its result was lost; the transaction may or may not have been applied",
		Err:     err,
	}, false
}
