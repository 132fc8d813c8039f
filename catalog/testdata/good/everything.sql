-- This free comment is not a directive.
-- coalesce: true
-- name: test.everything
-- description: Every parameter type, several statements, and text that
-- description: looks like parameters but is not.
-- param: i int min=-5 max=5
-- param: d decimal(20,2) nullable default="0.00"
-- param: s string(3)
-- param: b bool default=false
-- param: t time nullable
-- param: day date nullable
-- param: raw bytes(4) nullable
-- param: doc json nullable
-- param: note string default="a b \"c\""
-- result: one
-- json: doc
-- not-found: nothing here

-- A comment with :not_a_param and a ; semicolon.
SET @x = :i;  # another :comment ; here
/* block :comment ; */ SELECT 'text :no ; ''quoted'' \' :still_no' AS str, "dq :no" AS dq, `ident:no` AS ident,
  CAST(:d AS DECIMAL(20,2)) AS d, :s AS s, :b AS b, :t AS t, CAST(:day AS DATE) AS day, :raw AS raw,
  :doc AS doc, :note AS note, :i AS i, @x AS x
FROM (SELECT 1 AS `ident:no`) AS sub;
