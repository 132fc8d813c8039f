// Package durable is dbapi's JetStream transport: requests that must not
// be lost, kept by a stream while no instance runs, each run exactly once.
//
// Set-up. Start creates or updates the stream (work-queue retention) on
// <prefix>.durable.> and one durable pull consumer with explicit acks that
// every instance shares, both named after the prefix unless configured
// (StreamName, ConsumerName). A stream of that name with other subjects
// is another service's: Start refuses it, never rewrites it. While
// JetStream cannot set them up (a cluster without a leader yet) Start
// keeps trying for SetUpPatience. An instance fetches only as many messages as it
// has free workers, so backpressure comes from the consumer, not from a
// queue in memory.
//
// One message. A client publishes <prefix>.durable.<operation> (or
// <prefix>.durable.batch) with a JetStream publish; the body and headers
// mean what they mean in request-reply, except Dbapi-Timeout (a durable
// request has the default timeout from when it is picked up). The message
// runs through the same executor as a request-reply request, as one
// transaction that also stores its outcome under its key — the
// Nats-Msg-Id header, else "<stream>:<stream sequence>" — in
// dbapi_durable_outcomes. Then:
//
//   - committed: acked (after the COMMIT, never before). A redelivered
//     message whose key has an outcome is acked without running again.
//   - its key holds another request's outcome (another operation, or the
//     SHA-256 of another body, both stored with the outcome): answered 409
//     idempotency_key_reused, acked, not run; the outcome stays as it was.
//   - failed for good (400, 404, 409 after retries, ...): the error
//     outcome is stored in a transaction of its own and the message is
//     acked (not terminated: a work-queue stream before NATS 2.10 keeps a
//     terminated message).
//   - retryable (database unavailable, deadline, deadlock after every
//     attempt, COMMIT outcome unknown): nak'ed with a doubling backoff, up
//     to MaxDeliver deliveries; then stored as failed and acked.
//
// A failed fetch (NATS unreachable, no stream or consumer leader) is tried
// again within a second, so fetching resumes about a second after
// JetStream is back. Pause stops fetching while the database cannot
// serve (package health); Resume starts again.
//
// While a transaction runs the message gets in-progress acks every third
// of AckWait. If the message carries Dbapi-Reply-To, its outcome is also
// published there, with the headers and body of a request-reply answer.
// <prefix>.outcome answers {"key":"..."} with the stored outcome (plus
// Dbapi-Replayed: true) or 404 not_found; its micro STATS (service
// dbapi_durable) count messages by outcome.
package durable
