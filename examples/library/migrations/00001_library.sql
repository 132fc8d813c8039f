-- +goose Up
CREATE TABLE books (
    id       BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    isbn     VARCHAR(17)     NOT NULL,
    title    VARCHAR(200)    NOT NULL,
    copies   INT             NOT NULL DEFAULT 1,
    added_at DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    CONSTRAINT uq_books_isbn UNIQUE (isbn),
    CONSTRAINT chk_books_copies CHECK (copies >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE loans (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    book_id     BIGINT UNSIGNED NOT NULL,
    borrower    VARCHAR(100)    NOT NULL,
    lent_at     DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    returned_at DATETIME(3)     NULL,
    CONSTRAINT fk_loans_book FOREIGN KEY (book_id) REFERENCES books (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE loans;
DROP TABLE books;
