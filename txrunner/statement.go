package txrunner

import (
	"context"
	"fmt"

	"github.com/dbapi-dev/dbapi"
	"github.com/jmoiron/sqlx"
)

// StatementFunc is the body of RunStatement: one read-only query on q.
type StatementFunc func(ctx context.Context, q sqlx.ExtContext) error

// RunStatement runs fn on the pool in autocommit mode, for work that is one
// read-only query: the statement is a transaction of its own, so there is
// no BEGIN and no COMMIT to send (two round trips fewer than Run). It
// retries like Run: a deadlock, a lock wait timeout or a broken connection
// runs fn again, which is safe because the statement changed nothing.
// opts.Isolation and opts.ReadOnly do not apply (the statement runs at the
// session's level and is read-only by the caller's promise); MaxAttempts
// and AttemptTimeout do. Errors are *dbapi.Error values, as from Run.
func (r *Runner) RunStatement(ctx context.Context, opts Options, fn StatementFunc) error {
	maxAttempts := opts.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = r.cfg.MaxAttempts
	}
	for attempt := 1; ; attempt++ {
		err := r.statement(ctx, opts, fn)
		if err == nil {
			return nil
		}
		if !(isRetryable(err) || isConnError(err)) || ctx.Err() != nil || attempt >= maxAttempts {
			return classify(err)
		}
		cause := classify(err).ErrorCode()
		r.cfg.Logger.DebugContext(ctx, "retrying statement", "attempt", attempt, "cause", cause)
		if r.cfg.OnRetry != nil {
			r.cfg.OnRetry(cause)
		}
		if err := r.sleep(ctx, attempt); err != nil {
			return classify(err)
		}
	}
}

// statement runs fn once, turning a panic into an error.
func (r *Runner) statement(ctx context.Context, opts Options, fn StatementFunc) (err error) {
	if opts.AttemptTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.AttemptTimeout)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	conn, err := r.db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			err = dbapi.PanicError("in statement", p)
		}
		release(conn, err)
	}()
	return fn(ctx, extConn{conn})
}

// extConn is a pool connection as the sqlx.ExtContext a StatementFunc
// takes (sqlx.Conn lacks the named-parameter binding of sqlx.DB).
type extConn struct{ *sqlx.Conn }

func (extConn) DriverName() string { return "mysql" }

func (extConn) BindNamed(query string, arg any) (string, []any, error) {
	return sqlx.BindNamed(sqlx.QUESTION, query, arg)
}
