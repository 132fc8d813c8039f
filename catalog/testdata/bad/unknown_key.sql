-- name: x
-- parm: id int
-- result: one
SELECT 1;
