-- name: books.remove
-- description: Remove a book from the catalogue; a book that was ever lent stays.
-- param: id int min=1
-- result: exec
-- error: fk_loans_book 409 book_has_loans book :id has loans and stays in the catalogue
-- rows: 1 else 404 unknown_book there is no book :id
DELETE FROM books WHERE id = :id;
