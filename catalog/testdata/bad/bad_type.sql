-- name: x
-- result: one
-- param: id integer
SELECT :id;
