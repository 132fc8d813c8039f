-- name: loans.list
-- description: The loans of a borrower, oldest first; returned ones have returned_at.
-- param: borrower string(100)
-- param: limit int default=100 min=1 max=1000
-- result: many
-- read-only: true
SELECT l.id, l.book_id, b.title, l.lent_at, l.returned_at
FROM loans l JOIN books b ON b.id = l.book_id
WHERE l.borrower = :borrower
ORDER BY l.id
LIMIT :limit;
