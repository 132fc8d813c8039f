-- name: x
-- result: one
-- result: many
SELECT 1;
