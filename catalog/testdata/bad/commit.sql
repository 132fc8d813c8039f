-- name: x
-- result: exec
-- param: id int
UPDATE t SET a = 1 WHERE id = :id;
/* a comment */
COMMIT;
