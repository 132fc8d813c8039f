-- name: x
-- result: exec
SET autocommit = 0;
