-- name: x
-- result: many
-- not-found: nothing
SELECT 1;
