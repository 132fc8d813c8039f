// Package executor runs one request as one transaction and returns its
// reply. It knows nothing of how the request arrived: the request-reply
// transport (package consumer) and the durable transport (package durable)
// both translate their messages to a Request and the Reply back to a
// message.
//
// What Execute does, each concern in its own file:
//
//   - recover.go: a panic in our own code becomes a 500 reply, so one
//     request cannot take the process down (panics in operations are
//     already caught inside the transaction by txrunner).
//   - deadline.go: the deadline policy (default, maximum, the operation's
//     own cap) and the refusal of a request whose deadline passed while it
//     waited.
//   - executor.go: choosing the operation (or planning a batch into one
//     with package batch) and running it through a Runner as one
//     transaction, with TxHooks that read and write in the same
//     transaction.
//   - idempotency.go: the Idempotency-Key claim and stored reply, as a
//     TxHook.
//   - reply.go: the one place where results and errors become replies
//     (status, headers, body), with the reply size limit passed in.
package executor
