-- name: x
-- result: exec
-- coalesce: yes
DELETE FROM t;
