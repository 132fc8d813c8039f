-- +goose Up
-- A durable request's key (its Nats-Msg-Id) belongs to one request: its
-- operation and the SHA-256 of its operation and body. A message that
-- comes with the same key and another request is refused, never answered
-- with the first one's outcome. Rows stored before this migration have no
-- hash: their operation is still compared.
ALTER TABLE dbapi_durable_outcomes ADD COLUMN request_hash BINARY(32) NULL AFTER op;

-- +goose Down
ALTER TABLE dbapi_durable_outcomes DROP COLUMN request_hash;
