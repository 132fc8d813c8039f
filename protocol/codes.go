package protocol

// Error kinds: the broad classes of error. Every code belongs to one kind;
// an operation's own code (not in Codes) gets its kind's status and
// retryable flag.
const (
	KindInvalid       = "invalid"                // the request is wrong; retrying it will not help
	KindNotFound      = "not_found"              // a named thing does not exist
	KindConflict      = "conflict"               // the request clashes with the data
	KindTooLarge      = "too_large"              // the request or its result is over a limit
	KindUnavailable   = "unavailable"            // the database cannot be reached; nothing was run
	KindOverloaded    = "overloaded"             // the service has too much queued work; nothing was run
	KindTimeout       = "timeout"                // the deadline passed before COMMIT; nothing was committed
	KindCommitUnknown = "commit_outcome_unknown" // COMMIT was sent but its result was lost
	KindInternal      = "internal"               // a bug or an unexpected failure
)

// Code is one row of the error table.
type Code struct {
	Code      string // the "code" of the error body
	Status    int    // the Nats-Service-Error-Code header (HTTP-like)
	Kind      string // one of the Kind* constants
	Retryable bool   // the same request may be sent again later
	Meaning   string // one line for people
}

// codes is THE error table: the service takes every reply status and
// retryable flag from it. README.md's error table is checked against it
// by a test. The first row of each kind is the kind itself, used for a
// code the table does not list.
var codes = []Code{
	{KindInvalid, 400, KindInvalid, false, "the request is wrong"},
	{"malformed_json", 400, KindInvalid, false, "the body is not one JSON value (or starts with a byte order mark, or has data after it)"},
	{"bad_request", 400, KindInvalid, false, "the body is not a JSON object"},
	{"bad_param", 400, KindInvalid, false, "a parameter has the wrong type or value"},
	{"bad_text", 400, KindInvalid, false, "a string or name is not valid UTF-8 (or holds a lone surrogate)"},
	{"unknown_param", 400, KindInvalid, false, "a parameter the operation does not take (names are case-sensitive)"},
	{"duplicate_param", 400, KindInvalid, false, "a name given twice in one JSON object"},
	{"missing_param", 400, KindInvalid, false, "a required parameter is missing"},
	{"bad_timeout", 400, KindInvalid, false, "the Dbapi-Timeout header is not one positive Go duration"},
	{"bad_position", 400, KindInvalid, false, "the Dbapi-After header is not a position token a Dbapi-Position header held"},
	{"bad_idempotency_key", 400, KindInvalid, false, "the Idempotency-Key header is empty, blank, too long, repeated or not printable ASCII"},
	{"idempotency_disabled", 400, KindInvalid, false, "this service takes no Idempotency-Key"},
	{"bad_alias", 400, KindInvalid, false, `a batch step's "as" is not a name, or is used twice`},
	{"unresolvable_reference", 400, KindInvalid, false, "a batch reference names no earlier step or no field of its result"},
	{"bad_statement", 400, KindInvalid, false, "raw SQL that the server refuses or whose placeholders do not match"},
	{"foreign_key", 400, KindInvalid, false, "a referenced row does not exist, or a row is still referenced"},
	{"check_violation", 400, KindInvalid, false, "a value breaks a CHECK constraint"},
	{"too_long", 400, KindInvalid, false, "a value is too long for its column"},
	{"bad_value", 400, KindInvalid, false, "a value does not fit its column"},

	{KindNotFound, 404, KindNotFound, false, "a named row does not exist"},
	{"unknown_operation", 404, KindNotFound, false, "a batch step names no operation"},

	{KindConflict, 409, KindConflict, false, "the request clashes with the data"},
	{"duplicate", 409, KindConflict, false, "a row with the same unique key exists"},
	{"deadlock", 409, KindConflict, true, "the transaction kept deadlocking after the service's own retries; nothing was committed"},
	{"lock_wait_timeout", 409, KindConflict, true, "the transaction kept waiting too long for a lock after the service's own retries; nothing was committed"},
	{"certification_conflict", 409, KindConflict, true, "a cluster (Galera, Group Replication) kept refusing the transaction because other nodes changed the same rows, after the service's own retries; nothing was committed"},
	{"idempotency_key_reused", 409, KindConflict, false, "the key (Idempotency-Key, or a durable request's Nats-Msg-Id) was used for a different body or operation"},
	{"multiple_rows", 409, KindConflict, false, "a declared operation with result one matched more than one row"},

	{KindTooLarge, 413, KindTooLarge, false, "over a limit"},
	{"payload_too_large", 413, KindTooLarge, false, "the request body is over DBAPI_MAX_PAYLOAD"},
	{"result_too_large", 413, KindTooLarge, false, "the result is over what NATS can carry; ask for less"},
	{"batch_too_large", 413, KindTooLarge, false, "the batch has more steps than DBAPI_MAX_BATCH"},

	{KindUnavailable, 503, KindUnavailable, true, "the database cannot be reached, is read-only, or is a cluster node that cannot serve now; nothing was committed"},
	{KindOverloaded, 503, KindOverloaded, true, "too many requests wait for a worker; nothing was run"},
	{"stopping", 503, KindUnavailable, true, "this instance is stopping; nothing was run"},
	{"idempotency_race", 503, KindUnavailable, true, "the idempotency key expired and was swept while the request ran; nothing was committed"},
	{"outcome_race", 503, KindUnavailable, true, "a durable request's outcome was swept while the request ran; nothing was committed"},

	{KindTimeout, 504, KindTimeout, true, "the deadline passed before COMMIT (while queued, connecting or running); nothing was committed"},

	{KindCommitUnknown, 500, KindCommitUnknown, false, "COMMIT was sent but its result was lost: it may or may not be applied; check before retrying"},
	{KindInternal, 500, KindInternal, false, "a bug or unexpected failure; details are in the service log"},
}

var byCode = func() map[string]Code {
	m := make(map[string]Code, len(codes))
	for _, c := range codes {
		if _, dup := m[c.Code]; dup {
			panic("protocol: code " + c.Code + " is listed twice")
		}
		m[c.Code] = c
	}
	return m
}()

// Codes returns the error table, in order: every code the service itself
// sends, with its status, kind and retryable flag.
func Codes() []Code {
	return append([]Code(nil), codes...)
}

// Lookup returns the table's row for an error of kind with code. A code
// the table lists decides by itself; any other code (an operation's own,
// such as "insufficient_funds") takes its kind's row, with Code set to
// code. An unknown kind counts as internal.
func Lookup(kind, code string) Code {
	if c, ok := byCode[code]; ok {
		return c
	}
	c, ok := byCode[kind]
	if !ok || c.Kind != kind {
		c = byCode[KindInternal]
	}
	if code != "" {
		c.Code = code
	}
	return c
}
