-- name: x
-- result: one
SELECT 1
-- param: id int
;
