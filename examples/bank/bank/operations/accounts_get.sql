-- name: accounts.get
-- description: Read one account by id.
-- param: id int min=1
-- result: one
-- read-only: true
-- not-found: account :id does not exist
SELECT id, owner, balance, created_at
FROM accounts
WHERE id = :id;
