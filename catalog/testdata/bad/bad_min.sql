-- name: x
-- result: one
-- param: s string min=1
SELECT :s;
