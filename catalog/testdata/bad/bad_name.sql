-- name: accounts get
-- result: one
SELECT 1;
