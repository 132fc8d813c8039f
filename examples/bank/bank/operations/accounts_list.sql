-- name: accounts.list
-- description: List accounts in id order, at most limit at a time (default 100).
-- description: For the next page, pass the last id you got as after.
-- param: after int nullable min=0
-- param: limit int default=100 min=1 max=1000
-- result: many
-- read-only: true
SELECT id, owner, balance, created_at
FROM accounts
WHERE id > COALESCE(:after, 0)
ORDER BY id
LIMIT :limit;
