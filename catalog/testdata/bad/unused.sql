-- name: x
-- result: one
-- param: id int
-- param: other int
SELECT :id;
