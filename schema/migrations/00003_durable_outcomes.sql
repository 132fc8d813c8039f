-- +goose Up
-- One row per durable request key (its Nats-Msg-Id, else its stream
-- sequence): written in the same transaction as the request's work, or,
-- for a request that failed for good, in a transaction of its own. A
-- committed row always holds the outcome: the reply the request had.
CREATE TABLE IF NOT EXISTS dbapi_durable_outcomes (
    outcome_key VARBINARY(255) NOT NULL PRIMARY KEY,
    op          VARCHAR(255)   NOT NULL,
    status      SMALLINT       NULL,
    code        VARCHAR(128)   NULL,
    headers     BLOB           NULL,
    body        MEDIUMBLOB     NULL,
    created_at  DATETIME(6)    NOT NULL,
    KEY dbapi_durable_outcomes_created (created_at)
) ENGINE=InnoDB;

-- +goose Down
DROP TABLE IF EXISTS dbapi_durable_outcomes;
