-- name: x
-- param: id int
-- result: one
-- not-found: no row for :id and :idd
SELECT :id;
