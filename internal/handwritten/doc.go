// Package handwritten is the service a user would write instead of dbapi:
// a nats.go micro endpoint per operation that starts a goroutine per
// request and runs the bank's SQL on a database/sql pool. It is the
// baseline of the benchmark tool's handwritten mode (cmd/dbapi-bench) and
// of the consumer's in-process benchmarks, one definition for both.
//
// It runs exactly the SQL of the bank's operations:
//
//   - accounts.transfer: one transaction: both rows locked in id order
//     with one SELECT ... FOR UPDATE, one UPDATE of both balances, one
//     INSERT into transfers, COMMIT (bank.Transfer).
//   - accounts.get: the SELECT of examples/bank/bank/operations/
//     accounts_get.sql, as a single statement (autocommit), which is how
//     one writes a point read by hand.
//
// It has no queue, no admission control, no retries and no idempotency:
// the baseline dbapi must not be slower than.
package handwritten
