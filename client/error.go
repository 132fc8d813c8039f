package client

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/nats-io/nats.go"
)

// Error is an error reply of the service. Use errors.As to get it:
//
//	var e *client.Error
//	if errors.As(err, &e) && e.Retryable { ... }
type Error struct {
	// Status is the HTTP-like status (400, 404, 409, 413, 500, 503, 504).
	Status int
	// Code is the machine-readable code: see the error table of
	// protocol.Codes, or an operation's own code.
	Code string
	// Message is for people.
	Message string
	// Retryable reports that the request was not applied and may be sent
	// again later. Call has already retried it as often as it was allowed.
	Retryable bool
	// Step and Op name the failed step of a batch; Step is nil otherwise.
	Step *int
	Op   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("dbapi: %d %s: %s", e.Status, e.Code, e.Message)
}

// replyError returns the *Error an error reply carries, or nil for a
// successful reply.
func replyError(msg *nats.Msg) *Error {
	status := protocol.Values(msg.Header, protocol.HeaderErrorCode)
	if len(status) == 0 {
		return nil
	}
	e := &Error{}
	e.Status, _ = strconv.Atoi(status[0])
	if m := protocol.Values(msg.Header, protocol.HeaderError); len(m) > 0 {
		e.Message = m[0]
	}
	var body protocol.ErrorBody
	if err := json.Unmarshal(msg.Data, &body); err == nil && body.Error.Code != "" {
		d := body.Error
		e.Code, e.Message, e.Retryable, e.Step, e.Op = d.Code, d.Message, d.Retryable, d.Step, d.Op
	}
	if e.Status == 0 {
		e.Status = 500
	}
	return e
}
