-- name: test.insert
-- param: owner string(255)
-- result: exec
INSERT INTO accounts (owner) VALUES (:owner)
