package durable

import (
	"context"

	"github.com/dbapi-dev/dbapi/executor"
	"github.com/dbapi-dev/dbapi/idempotency"
	"github.com/jmoiron/sqlx"
)

// The outcome store is idempotency.Outcomes; this file turns its
// outcomes into replies and back.

// reply returns a stored outcome as the reply it was, marked replayed.
func reply(o idempotency.Outcome) executor.Reply {
	h := make(map[string][]string, len(o.Header)+1)
	for k, v := range o.Header {
		h[k] = v
	}
	h[executor.HeaderReplayed] = []string{"true"}
	return executor.Reply{Status: o.Status, Code: o.Code, Header: h, Body: o.Body, Replayed: true}
}

// outcome returns the outcome a reply stores.
func outcome(r executor.Reply) idempotency.Outcome {
	return idempotency.Outcome{Status: r.Status, Code: r.Code, Header: r.Header, Body: r.Body}
}

// outcomeHook claims a message's key in its request's transaction and
// stores its reply there, as a TxHook.
type outcomeHook struct {
	store   *idempotency.Outcomes
	key, op string
	hash    []byte
}

func (s *Service) hook(key, op string, body []byte) executor.TxHook {
	return &outcomeHook{store: s.outcomes, key: key, op: op, hash: idempotency.Hash(op, body)}
}

// Before claims the key; a key with an outcome answers with it (nothing
// runs), or with a 409 if the outcome is another request's.
func (h *outcomeHook) Before(ctx context.Context, tx *sqlx.Tx) (*executor.Reply, error) {
	stored, err := h.store.Claim(ctx, tx, h.key, h.op, h.hash)
	if err != nil || stored == nil {
		return nil, err
	}
	r := reply(*stored)
	return &r, nil
}

// After stores the reply under the key.
func (h *outcomeHook) After(ctx context.Context, tx *sqlx.Tx, r executor.Reply) error {
	return h.store.Save(ctx, tx, h.key, outcome(r))
}

// saveFailure stores the error reply r as the outcome of key, for the
// request for op with body, in a transaction of its own, and returns the
// outcome the key now has as a reply (see idempotency.Outcomes.SaveFailure).
func (s *Service) saveFailure(ctx context.Context, key, op string, body []byte, r executor.Reply) (executor.Reply, error) {
	stored, earlier, err := s.outcomes.SaveFailure(ctx, s.runner, key, op, idempotency.Hash(op, body), outcome(r))
	if err != nil || !earlier {
		return r, err
	}
	return reply(stored), nil
}
