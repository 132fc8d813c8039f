-- name: books.lend
-- description: Lend a copy of a book: one copy fewer on the shelf, one loan more.
-- param: book int min=1
-- param: borrower string(100)
-- result: one
-- coalesce: true
-- error: chk_books_copies 409 no_copies_left no copies left of book :book
-- error: fk_loans_book 404 unknown_book there is no book :book
UPDATE books SET copies = copies - 1 WHERE id = :book;
INSERT INTO loans (book_id, borrower) VALUES (:book, :borrower);
SELECT l.id, l.book_id, b.title, l.borrower, l.lent_at, b.copies AS copies_left
FROM loans l JOIN books b ON b.id = l.book_id
WHERE l.id = LAST_INSERT_ID();
