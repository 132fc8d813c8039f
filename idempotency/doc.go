// Package idempotency gives retrying clients an exactly-once effect.
//
// A request that carries an Idempotency-Key claims the key inside its own
// transaction, before doing its work, by inserting a row keyed by it; on
// success the reply is stored in that row, in the same transaction. So the
// key is committed exactly when the work is:
//
//   - A repeat of a committed request finds the row and gets the stored
//     reply; nothing runs.
//   - A repeat that arrives while the first is still running blocks on the
//     row lock of the first's INSERT, and once the first commits, finds its
//     row and replays its reply. If the first rolls back, the repeat's
//     INSERT goes through and it runs instead. It never runs twice.
//   - A failed request rolls back, row included, so a retry runs again.
//   - The same key with a different request (operation or body) is a 409
//     idempotency_key_reused.
//
// Rows expire after a TTL; an expired row counts as absent, and Sweep
// deletes expired rows in small batches.
//
// Outcomes is the same store for durable requests (package durable): a
// message's key (its Nats-Msg-Id) is claimed in its transaction and holds
// its whole reply, failures included, so that a redelivery runs nothing
// and a key reused for another request is refused. Both stores share the
// claim (claim.go), the request hash and the sweep (SweepEvery, which the
// service runs once for both).
package idempotency
