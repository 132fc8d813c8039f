-- name: x
-- result: one
SELECT 1;
SELECT 'abc
  ;
