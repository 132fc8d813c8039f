-- name: x
-- result: one
-- nothing below

/* only a comment */ ;
