-- +goose Up
-- An idempotency key is scoped to its operation: the same key sent to two
-- operations is two keys, each with its own reply.
ALTER TABLE dbapi_idempotency_keys DROP PRIMARY KEY, ADD PRIMARY KEY (idem_key, op);

-- +goose Down
-- A key used by more than one operation cannot stay unique on its own:
-- those rows are forgotten.
DELETE a FROM dbapi_idempotency_keys a JOIN dbapi_idempotency_keys b ON a.idem_key = b.idem_key AND a.op <> b.op;
ALTER TABLE dbapi_idempotency_keys DROP PRIMARY KEY, ADD PRIMARY KEY (idem_key);
