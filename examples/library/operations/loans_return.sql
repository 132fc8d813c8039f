-- name: loans.return
-- description: Bring a lent copy back to the shelf.
-- param: loan int min=1
-- result: exec
-- rows: 1 else 404 not_lent loan :loan is not out (there is no such loan, or it was returned)
UPDATE loans SET returned_at = CURRENT_TIMESTAMP(3) WHERE id = :loan AND returned_at IS NULL;
UPDATE books b JOIN loans l ON l.book_id = b.id SET b.copies = b.copies + 1 WHERE l.id = :loan;
