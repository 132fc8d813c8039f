-- name: x
-- result: one
-- param: d decimal(20)
SELECT :d;
