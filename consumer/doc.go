// Package consumer is dbapi's request-reply transport: it serves every
// registered operation as an endpoint of a nats.go micro service, turns
// each message into an executor.Request and hands it to the service's
// executor.Handler (the executor inside its middleware), which runs it as
// one transaction and returns the reply this package publishes. It is an
// adapter only: admission, the queue and the workers, STATS, pausing and
// the drain are its own; tracing, metrics, request ids and logs of
// failures are the handler's middleware.
//
// Request flow. nats.go calls a subscription's handler one message at a
// time, so the handler only checks the request and puts it on a bounded
// queue; a fixed pool of worker goroutines takes requests off the queue and
// runs them, each in its own transaction. When the queue is full the
// request is answered at once with 503 "overloaded" instead of letting
// NATS drop messages for a slow consumer. The transaction commits (or rolls
// back) before the reply is published.
//
// Subjects. Operation "accounts.transfer" is served on
// "<prefix>.accounts.transfer" in the shared queue group, so any number of
// instances split the load and each request is handled by exactly one. A
// subject that names no operation has no subscriber: NATS answers the
// requester at once with "no responders".
//
// Pausing. Pause unsubscribes every endpoint (the micro service stops), so
// the queue group hands every request to the other instances; Resume adds
// the service again. Package health pauses a service whose database cannot
// serve.
//
// Replies. Success: the operation's result as JSON. Error: the headers
// Nats-Service-Error-Code (an HTTP-like status) and Nats-Service-Error (a
// message), as the micro package uses them, and the body
// {"error":{"code":"...","message":"...","retryable":false}}.
//
// Metadata. Each endpoint's micro metadata describes it for clients: the
// JSON Schema of its request body (params_schema), the kind of its result
// (result: one, many or exec) and the result's JSON Schema
// (result_schema, from the database's column types for a declared
// operation), beside description, read_only, the operation's own error
// codes (errors: a JSON array of code, status and retryable) and, for an
// operation whose requests may share a transaction (group commit),
// coalesce.
package consumer
