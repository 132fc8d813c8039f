-- name: x
-- result: one
-- param: id int

SELECT :id,
  :owner;
