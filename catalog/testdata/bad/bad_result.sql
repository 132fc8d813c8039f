-- name: x
-- result: all
SELECT 1;
