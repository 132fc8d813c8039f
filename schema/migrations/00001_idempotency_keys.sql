-- +goose Up
-- One row per Idempotency-Key: written in the same transaction as the work
-- it protects, so the key exists exactly when the work was committed.
CREATE TABLE IF NOT EXISTS dbapi_idempotency_keys (
    idem_key     VARBINARY(128) NOT NULL PRIMARY KEY,
    op           VARCHAR(255)   NOT NULL,
    request_hash BINARY(32)     NOT NULL,
    reply        MEDIUMBLOB     NULL,
    created_at   DATETIME(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    expires_at   DATETIME(6)    NOT NULL,
    KEY dbapi_idempotency_keys_expires (expires_at)
) ENGINE=InnoDB;

-- +goose Down
DROP TABLE IF EXISTS dbapi_idempotency_keys;
