-- name: x
-- result: one
-- param: n int default="abc"
SELECT :n;
