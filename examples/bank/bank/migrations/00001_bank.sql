-- +goose Up
CREATE TABLE accounts (
    id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    owner      VARCHAR(255)    NOT NULL,
    balance    DECIMAL(20,2)   NOT NULL DEFAULT 0,
    created_at DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT accounts_balance_nonnegative CHECK (balance >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE transfers (
    id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    from_id    BIGINT UNSIGNED NOT NULL,
    to_id      BIGINT UNSIGNED NOT NULL,
    amount     DECIMAL(20,2)   NOT NULL,
    created_at DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT transfers_from FOREIGN KEY (from_id) REFERENCES accounts (id),
    CONSTRAINT transfers_to   FOREIGN KEY (to_id)   REFERENCES accounts (id),
    CONSTRAINT transfers_amount_positive CHECK (amount > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE transfers;
DROP TABLE accounts;
