// Package executor runs one request as one transaction and returns its
// reply. It knows nothing of how the request arrived: the request-reply
// transport (package consumer) and the durable transport (package
// durable) turn their messages into a Request, hand it to a Handler, and
// turn the Reply back into a message.
//
// The Handler both transports call is Execute inside a chain of
// Middleware that package service composes once, outermost first:
//
//	Recover → RequestIDs → tracing → metrics → LogErrors → Execute
//
// each concern in a file of its own (recover.go, requestid.go, log.go;
// tracing.Tracer.Middleware and metrics.Metrics.Middleware in their
// packages). A request the transport refused (overloaded, malformed
// headers) goes through the same chain with Request.Refusal set, so that
// it is traced, counted and logged, and Execute answers it without
// running anything.
//
// One request's walk through the package, a file at a time:
//
//   - headers.go: FromHeaders, called by the transport on arrival: the
//     deadline (deadline.go's policy: default, maximum, the operation's
//     own cap) and the Idempotency-Key, read once.
//   - executor.go: Execute refuses a request whose deadline passed while
//     it waited, plans the operation (or a batch, with package batch),
//     checks the key (idempotency.go, which also makes the TxHook that
//     claims it and stores the reply) and picks how it runs: one
//     read-only statement in autocommit mode, a group (group commit), or
//     a transaction of its own.
//   - groupcommit.go: group commit, its own type: requests of an
//     operation that coalesces share one transaction, one SAVEPOINT each;
//     it says how many workers it needs (Workers).
//   - transaction.go: one request's transaction through a Runner
//     (txrunner, with its retries) and its body (hooks, the operation,
//     the encoded result), alone or as a member of a group.
//   - reply.go: the one place where results and errors become replies
//     (status, headers, body), from protocol's table.
package executor
