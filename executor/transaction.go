package executor

import (
	"context"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/replica"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
)

// One request's transaction: a transaction of its own (transact), a
// single read-only statement in autocommit mode (statement), and the body
// that runs inside a transaction, alone or in a group (attempt).

// txOptions are the options of a transaction running op for requests
// with or without hooks: a request whose hooks store something must not
// run READ ONLY.
func txOptions(op dbapi.Operation, hooks bool) txrunner.Options {
	return txrunner.Options{Isolation: op.Isolation, ReadOnly: op.ReadOnly && !hooks}
}

// statement runs op's Statement in autocommit mode on sr.
func (e *Executor) statement(ctx context.Context, sr StatementRunner, op dbapi.Operation, body []byte) Reply {
	start := time.Now()
	var out Reply
	// The closure captures only what it uses: capturing op would move
	// the whole Operation to the heap on every request.
	stmt, maxReply := op.Statement, e.cfg.MaxReply
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

// transact runs one request for op as a transaction of its own on
// runner. A transaction that may write, with replicas configured, reads
// the position its COMMIT reached, which the reply carries.
func (e *Executor) transact(ctx context.Context, runner Runner, op dbapi.Operation, body []byte, hooks []TxHook) Reply {
	start := time.Now()
	var out Reply
	run := op.Run // not op: the closure would move the whole Operation to the heap
	opts := txOptions(op, len(hooks) > 0)
	var pos *replica.Position
	if e.cfg.Replicas != nil {
		opts, pos = e.positioned(opts, func() bool { return out.Replayed })
	}
	err := runner.Run(ctx, opts, func(ctx context.Context, tx *sqlx.Tx) error {
		var err error
		out, err = e.attempt(ctx, tx, run, body, hooks)
		return err
	})
	if err != nil {
		out = ErrorReply(err)
	}
	stamp(&out, pos)
	out.TxTime = time.Since(start)
	return out
}

// attempt is one run of a request's transaction body: its hooks' Before
// (a stored reply answers instead), the operation, its result encoded
// before COMMIT (so a result that cannot be sent rolls the transaction
// back instead of being lost), and its hooks' After.
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
