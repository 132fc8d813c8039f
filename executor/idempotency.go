package executor

import (
	"context"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/idempotency"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/jmoiron/sqlx"
)

// CheckKey checks an Idempotency-Key before the request is queued: the
// executor must have a store, and the key must be well formed.
func (e *Executor) CheckKey(key string) error {
	if e.cfg.Idempotency == nil {
		return dbapi.CodeErrorf(dbapi.EINVALID, "idempotency_disabled", "this service does not accept %s", protocol.HeaderIdempotencyKey)
	}
	return idempotency.ValidKey(key)
}

// idemHook claims the request's Idempotency-Key in its transaction and
// stores the reply there; a committed key replays its stored reply.
type idemHook struct {
	store   *idempotency.Store
	key, op string
	body    []byte
}

func (e *Executor) idempotencyHook(req Request) TxHook {
	return &idemHook{store: e.cfg.Idempotency, key: req.IdempotencyKey, op: req.Op, body: req.Body}
}

func (h *idemHook) Before(ctx context.Context, tx *sqlx.Tx) (*Reply, error) {
	stored, replay, err := h.store.Claim(ctx, tx, h.key, h.op, idempotency.Hash(h.op, h.body))
	if err != nil || !replay {
		return nil, err
	}
	return &Reply{
		Status:   StatusOK,
		Code:     "ok",
		Header:   map[string][]string{HeaderReplayed: {"true"}},
		Body:     stored,
		Replayed: true,
	}, nil
}

func (h *idemHook) After(ctx context.Context, tx *sqlx.Tx, r Reply) error {
	return h.store.Save(ctx, tx, h.key, h.op, r.Body)
}
