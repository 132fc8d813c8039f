-- name: books.get
-- description: Read one book, with the copies on the shelf.
-- param: id int min=1
-- result: one
-- read-only: true
-- not-found: there is no book :id
SELECT id, isbn, title, copies, added_at FROM books WHERE id = :id;
