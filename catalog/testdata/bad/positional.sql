-- name: x
-- result: one
SELECT 1
  FROM t WHERE id = ?;
