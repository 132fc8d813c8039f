-- name: books.add
-- description: Add a book to the catalogue with its number of copies.
-- param: isbn string(17)
-- param: title string(200)
-- param: copies int default=1 min=0 max=1000
-- result: one
-- error: uq_books_isbn 409 duplicate_isbn a book with ISBN :isbn is already in the catalogue
INSERT INTO books (isbn, title, copies) VALUES (:isbn, :title, :copies);
SELECT id, isbn, title, copies, added_at FROM books WHERE id = LAST_INSERT_ID();
