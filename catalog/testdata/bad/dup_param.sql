-- name: x
-- result: one
-- param: id int
-- param: id int
SELECT :id;
