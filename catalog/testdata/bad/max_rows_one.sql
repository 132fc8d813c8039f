-- name: x
-- result: one
-- max-rows: 10
SELECT 1;
