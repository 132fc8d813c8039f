package dbapi

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/dbapi-dev/dbapi/protocol"
)

// Error kinds: the server-side names of protocol's kinds. The status and
// retryable flag of every error are decided by protocol's one table of
// codes (protocol.Lookup), applied in executor/reply.go.
const (
	EINVALID       = protocol.KindInvalid       // the request is wrong; retrying it will not help
	ENOTFOUND      = protocol.KindNotFound      // a named thing does not exist
	ECONFLICT      = protocol.KindConflict      // the request clashes with the data (duplicate, business rule, contention)
	ETOOLARGE      = protocol.KindTooLarge      // the request or its result is over a limit
	EUNAVAILABLE   = protocol.KindUnavailable   // the database cannot be reached; retry later
	EOVERLOADED    = protocol.KindOverloaded    // the service has too much queued work; retry later
	ETIMEOUT       = protocol.KindTimeout       // the deadline passed before the transaction committed; nothing was committed
	ECOMMITUNKNOWN = protocol.KindCommitUnknown // COMMIT was sent but its result was lost
	EINTERNAL      = protocol.KindInternal      // a bug or an unexpected failure
)

// Error is the error type every layer returns when the caller should see
// something more specific than "internal". Message is safe to show to
// clients: it never holds driver text, SQL or DSN secrets. The wrapped cause
// (Err) is for logs only.
type Error struct {
	// Kind is one of the E* constants and decides the reply status.
	Kind string
	// Code is a stable machine-readable detail such as "insufficient_funds".
	// Empty means the same as Kind.
	Code string
	// Message is a human-readable explanation, safe for clients.
	Message string
	// Err is the underlying cause; never sent to clients.
	Err error
}

// Errorf returns an *Error of the given kind with a formatted message.
func Errorf(kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// CodeErrorf returns an *Error with a specific code, such as
// ("conflict", "insufficient_funds", ...).
func CodeErrorf(kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Kind
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.ErrorCode(), msg, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.ErrorCode(), msg)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrorCode returns Code, or Kind when Code is empty.
func (e *Error) ErrorCode() string {
	if e.Code != "" {
		return e.Code
	}
	return e.Kind
}

// Is reports whether target is an *Error of the same kind (and, if target
// names a code, the same code), so callers can write
// errors.Is(err, dbapi.ErrConflict).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Kind == e.Kind && (t.Code == "" || t.Code == e.ErrorCode())
}

// Sentinels for errors.Is. They match any *Error of their kind.
var (
	ErrInvalid       = &Error{Kind: EINVALID}
	ErrNotFound      = &Error{Kind: ENOTFOUND}
	ErrConflict      = &Error{Kind: ECONFLICT}
	ErrTooLarge      = &Error{Kind: ETOOLARGE}
	ErrUnavailable   = &Error{Kind: EUNAVAILABLE}
	ErrOverloaded    = &Error{Kind: EOVERLOADED}
	ErrTimeout       = &Error{Kind: ETIMEOUT}
	ErrCommitUnknown = &Error{Kind: ECOMMITUNKNOWN}
	ErrInternal      = &Error{Kind: EINTERNAL}
)

// PanicError is the error a recovered panic becomes: the client sees a
// bare "internal error"; the panic's value and stack, where it happened
// ("in transaction"), are for the logs.
func PanicError(where string, p any) *Error {
	return &Error{Kind: EINTERNAL, Message: "internal error", Err: fmt.Errorf("panic %s: %v\n%s", where, p, debug.Stack())}
}

// AsError returns err as an *Error. Errors of any other type become
// EINTERNAL with a generic message, so their text never reaches a client.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: EINTERNAL, Message: "internal error", Err: err}
}

// Retryable reports whether a client may safely send the same request again
// later: the request was not applied and the cause may pass. It is the
// retryable flag of the error's row in protocol's table.
func (e *Error) Retryable() bool {
	return protocol.Lookup(e.Kind, e.ErrorCode()).Retryable
}
