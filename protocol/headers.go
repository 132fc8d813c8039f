package protocol

import (
	"slices"
	"strings"
)

// Header names. NATS header names are case-sensitive on the wire, but the
// service matches these in any case (see Values): "idempotency-key" is
// the same header as "Idempotency-Key".
const (
	// HeaderTimeout sets a request's deadline as a Go duration ("2s",
	// "250ms"). It bounds the whole transaction, retries included, and is
	// capped by the service's maximum. A value that is not a positive
	// duration is a 400 bad_timeout.
	HeaderTimeout = "Dbapi-Timeout"
	// HeaderIdempotencyKey carries an idempotency key: 1 to 128 printable
	// ASCII characters, not all blank. A key is scoped to its operation.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderReplayed is "true" on a reply that was replayed from the
	// idempotency store instead of being run again.
	HeaderReplayed = "Dbapi-Replayed"
	// HeaderErrorCode carries the HTTP-like status of an error reply (the
	// nats.go micro package's micro.ErrorCodeHeader).
	HeaderErrorCode = "Nats-Service-Error-Code"
	// HeaderError carries the message of an error reply (micro.ErrorHeader).
	HeaderError = "Nats-Service-Error"
	// HeaderReplyTo names the subject a durable request's outcome is also
	// published to (JetStream does not keep a message's reply subject).
	HeaderReplyTo = "Dbapi-Reply-To"
	// HeaderMsgID is JetStream's publish de-duplication header; dbapi
	// stores a durable request's outcome under it.
	HeaderMsgID = "Nats-Msg-Id"
	// HeaderPosition is on the reply to a request that committed a write
	// while the service has read replicas: an opaque token of the
	// primary's replication position after that commit. Clients never
	// parse it; they send it back as HeaderAfter.
	HeaderPosition = "Dbapi-Position"
	// HeaderAfter carries a token a reply's HeaderPosition held: the
	// request runs on a replica only once that replica has applied the
	// position (waiting at most DBAPI_REPLICA_WAIT), else on the primary,
	// so it sees that write and every write before it. A token that is
	// not one is a 400 bad_position.
	HeaderAfter = "Dbapi-After"
)

// Durable requests (package durable): a JetStream publish on
// <prefix>.durable.<operation> (or <prefix>.durable.batch); the outcome
// of one by request-reply on <prefix>.outcome with an OutcomeRequest.
const (
	DurableToken     = "durable"
	OutcomeOperation = "outcome"
)

// OutcomeRequest asks for the stored outcome of a durable request.
type OutcomeRequest struct {
	Key string `json:"key"` // the request's Nats-Msg-Id
}

// BatchOperation is the operation name of the batch endpoint: the subject
// <prefix>.batch takes a BatchRequest.
const BatchOperation = "batch"

// Reserved reports whether an operation may not be named name, and why:
// batch, outcome and durable.* are the service's own subjects (the last
// two whether or not durable requests are on, so that turning them on
// never hides an operation).
func Reserved(name string) (why string, reserved bool) {
	switch {
	case name == BatchOperation:
		return "it is the batch endpoint", true
	case name == OutcomeOperation:
		return "it is the durable outcome endpoint", true
	case name == DurableToken || strings.HasPrefix(name, DurableToken+"."):
		return "durable.* are the subjects of durable requests", true
	}
	return "", false
}

// Values returns every value of the header name in h, matching the name
// in any case (nats.Header.Get does not). Values of differently cased
// names are returned in the order of their names, so the result does not
// depend on map iteration.
func Values(h map[string][]string, name string) []string {
	if v, ok := h[name]; ok && len(h) == 1 {
		return v
	}
	var keys []string
	for k := range h {
		if strings.EqualFold(k, name) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []string
	for _, k := range keys {
		out = append(out, h[k]...)
	}
	return out
}
