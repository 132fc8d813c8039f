// Package client is the Go client of dbapi: it sends a request over NATS
// to <prefix>.<operation> and decodes the reply, following the contract of
// package protocol.
//
//	c := client.New(nc, "dbapi")
//	var res TransferResult
//	err := c.Call(ctx, "accounts.transfer", map[string]any{"from": 1, "to": 2, "amount": "1.00"}, &res,
//		client.WithNewIdempotencyKey())
//	var e *client.Error
//	if errors.As(err, &e) && e.Code == "insufficient_funds" { ... }
//
// The context's deadline travels as the Dbapi-Timeout header, so the
// service stops working on a request its caller has given up on. Errors
// the service marks retryable are retried, with the same idempotency key
// and a bounded, jittered backoff, while the context allows.
//
// When the service reads from replicas, a Session (c.Session()) reads its
// own writes: it sends back the last Dbapi-Position a reply carried as
// Dbapi-After, so a read runs on a replica only once it has that write.
package client
