package dbapi

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"
)

// Func is the body of an operation. It runs inside one transaction and must
// use only tx (never the pool, never another goroutine): the transaction
// commits if it returns a nil error and rolls back otherwise. It may be
// called more than once for one request when the transaction is retried
// after a deadlock, so it must not have effects outside tx.
//
// params is the request body, a JSON object. The result is encoded as JSON
// and sent as the reply.
type Func func(ctx context.Context, tx *sqlx.Tx, params json.RawMessage) (any, error)

// StatementFunc is the body of an operation that is one read-only
// statement: it must run exactly one query on q and nothing else.
type StatementFunc func(ctx context.Context, q sqlx.ExtContext, params json.RawMessage) (any, error)

// Operation is a named unit of work that a request can ask for.
type Operation struct {
	// Name is dot-separated, such as "accounts.transfer". The request
	// subject is the service prefix followed by Name.
	Name string
	// Description is shown in the NATS micro service info.
	Description string
	// Run does the work.
	Run Func
	// Statement, when set, does what Run does as one read-only query that
	// needs no transaction around it. A request that may use it (no
	// Idempotency-Key, not a batch step) runs it in autocommit mode, where
	// the statement is a transaction of its own: the same result, without
	// the BEGIN and COMMIT round trips. Run must be set as well. Package
	// catalog sets it for declared operations that are one SELECT.
	Statement StatementFunc
	// ReadOnly runs the transaction as READ ONLY.
	ReadOnly bool
	// Coalesce lets requests for this operation that wait at the same
	// time run in one transaction (group commit): each under a SAVEPOINT
	// of its own, in the order they arrived, with one COMMIT for all. A
	// request that fails rolls back to its savepoint and gets its own
	// error; the others commit together, and every reply goes out after
	// the COMMIT. Each request stays atomic and isolated from requests
	// outside its group, but sees the effects of the requests before it
	// in its group, and the group commits or fails as a whole. Run must
	// tolerate that: it must not depend on being the first statement of
	// its transaction (a consistent snapshot taken at BEGIN, say).
	Coalesce bool
	// Isolation is the transaction isolation level; zero means the
	// server default (REPEATABLE READ on InnoDB).
	Isolation sql.IsolationLevel
	// Timeout, when not zero, caps the request's deadline.
	Timeout time.Duration
	// Params is the JSON Schema of the request body (a JSON object), for
	// clients: it is shown in the endpoint's metadata and by `dbapi
	// describe`. It describes; Run still checks. Nil means not described
	// (any object). SchemaOf builds one from a Go parameter struct.
	Params json.RawMessage
	// Result is the kind of the reply; empty means not described.
	Result ResultKind
	// ResultSchema is the JSON Schema of the reply; nil means the general
	// shape of Result.
	ResultSchema json.RawMessage
	// Errors lists the errors of the operation's own (codes beyond the
	// service's error table, such as "insufficient_funds") that it may
	// answer with, for clients: `dbapi describe` and the endpoint's
	// metadata show them, so that clients can switch on their codes. It
	// describes; Run still decides what to return.
	Errors []OperationError
}

// OperationError describes an error an operation may answer with.
type OperationError struct {
	// Kind is the error's kind (EINVALID, ENOTFOUND, ECONFLICT, ...),
	// which decides its status and retryable flag.
	Kind string
	// Code is the error body's code, lower_snake_case.
	Code string
	// Message says when it happens (for a declared operation, the message
	// as written, with its :name placeholders).
	Message string
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// Validate reports whether the operation can be registered.
func (op Operation) Validate() error {
	if !nameRE.MatchString(op.Name) {
		return fmt.Errorf("operation name %q: want dot-separated words of letters, digits, '_' and '-'", op.Name)
	}
	if op.Run == nil {
		return fmt.Errorf("operation %q: Run is nil", op.Name)
	}
	return op.validDescription()
}

// Registry is a set of operations by name. It is not safe for concurrent
// modification; build it before serving.
type Registry struct {
	ops map[string]Operation
}

// NewRegistry returns a registry holding ops, or an error naming the first
// invalid or duplicate operation.
func NewRegistry(ops ...Operation) (*Registry, error) {
	r := &Registry{ops: make(map[string]Operation)}
	for _, op := range ops {
		if err := r.Add(op); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Add registers op. A second operation with the same name is an error.
func (r *Registry) Add(op Operation) error {
	if err := op.Validate(); err != nil {
		return err
	}
	if _, dup := r.ops[op.Name]; dup {
		return fmt.Errorf("operation %q is registered twice", op.Name)
	}
	r.ops[op.Name] = op
	return nil
}

// Lookup returns the operation with the given name.
func (r *Registry) Lookup(name string) (Operation, bool) {
	op, ok := r.ops[name]
	return op, ok
}

// Operations returns all operations sorted by name.
func (r *Registry) Operations() []Operation {
	out := make([]Operation, 0, len(r.ops))
	for _, op := range r.ops {
		out = append(out, op)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
