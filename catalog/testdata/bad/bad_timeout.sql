-- name: x
-- result: one
-- timeout: soon
SELECT 1;
