package executor

import (
	"context"
	"errors"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/dbapi-dev/dbapi/replica"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
)

// Read replicas (package replica): a read-only request without hooks (no
// Idempotency-Key, no durable outcome to store) runs on a healthy replica
// that has applied its Dbapi-After position, else on the primary; every
// transaction that wrote on the primary reads the position its COMMIT
// reached, which its reply carries as Dbapi-Position.

// replicaRunners makes the runner of each replica's pool.
func (e *Executor) replicaRunners() {
	if e.cfg.Replicas == nil {
		return
	}
	mk := e.cfg.ReplicaRunner
	if mk == nil {
		mk = func(db *sqlx.DB) Runner { return txrunner.New(db, txrunner.Config{}) }
	}
	e.onReplicas = make(map[*replica.Replica]Runner)
	for _, r := range e.cfg.Replicas.Replicas() {
		e.onReplicas[r] = mk(r.DB())
	}
}

// onReplica runs a read-only request on a replica that can serve it and
// reports ok; ok=false sends it to the primary: no replica is healthy,
// none applied the request's position in time, or the one chosen failed
// (it is then taken out until its next check passes). A replica never
// makes a request fail.
func (e *Executor) onReplica(ctx context.Context, op dbapi.Operation, req *Request) (Reply, bool) {
	r, _ := e.cfg.Replicas.Pick(ctx, req.After)
	if r == nil {
		return Reply{}, false
	}
	runner := e.onReplicas[r]
	var out Reply
	if sr, ok := runner.(StatementRunner); ok && op.Statement != nil {
		out = e.statement(ctx, sr, op, req.Body)
	} else {
		out = e.transact(ctx, runner, op, req.Body, nil)
	}
	if errors.Is(out.Err, dbapi.ErrUnavailable) && ctx.Err() == nil {
		r.Failed(out.Err)
		return Reply{}, false
	}
	return out, true
}

// positioned returns opts with, when the service has replicas and the
// transaction may write, an AfterCommit that reads the position the
// COMMIT reached into the position it returns (else nil): the committing
// session's own (one round trip), or, when replayed says the reply was
// stored by an earlier request, the primary's whole position, which covers
// that request's write too. Call it only when there are replicas: its
// closures cost allocations.
func (e *Executor) positioned(opts txrunner.Options, replayed func() bool) (txrunner.Options, *replica.Position) {
	if e.cfg.Replicas == nil || opts.ReadOnly {
		return opts, nil
	}
	f := e.cfg.Replicas.Flavour()
	pos := new(replica.Position)
	opts.AfterCommit = func(ctx context.Context, conn *sqlx.Conn) {
		read := replica.ReadPosition
		if replayed() {
			read = replica.PrimaryPosition
		}
		p, err := read(ctx, conn, f)
		if err == nil {
			*pos = p
		}
	}
	return opts, pos
}

// stamp puts the position on a reply to a request that committed.
func stamp(r *Reply, pos *replica.Position) {
	if pos == nil || pos.IsZero() || r.Err != nil {
		return
	}
	h := make(map[string][]string, len(r.Header)+1)
	for k, v := range r.Header {
		h[k] = v
	}
	h[protocol.HeaderPosition] = []string{pos.Token()}
	r.Header = h
}
