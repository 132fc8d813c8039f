package consumer

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/dbapi-dev/dbapi"
	"github.com/nats-io/nats.go/micro"
)

// Status returns the HTTP-like status sent in the Nats-Service-Error-Code
// header for an error kind. This is the one place where errors become
// reply codes.
func Status(kind string) int {
	switch kind {
	case dbapi.EINVALID:
		return 400
	case dbapi.ENOTFOUND:
		return 404
	case dbapi.ECONFLICT:
		return 409
	case dbapi.ETOOLARGE:
		return 413
	case dbapi.EUNAVAILABLE, dbapi.EOVERLOADED:
		return 503
	case dbapi.ETIMEOUT:
		return 504
	}
	return 500 // EINTERNAL, ECOMMITUNKNOWN and anything unknown
}

// ErrorBody is the JSON body of an error reply.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes the error in an error reply.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
	// Step and Op name the failed step of a batch.
	Step *int   `json:"step,omitempty"`
	Op   string `json:"op,omitempty"`
}

// errorReply returns the headers and body that report err to a client.
// Only dbapi.Error messages reach the client; any other error is reported
// as a bare "internal error".
func errorReply(err error, step *StepInfo) (map[string][]string, []byte) {
	e := dbapi.AsError(err)
	msg := e.Message
	if msg == "" {
		msg = e.Kind
	}
	d := ErrorDetail{Code: e.ErrorCode(), Message: msg, Retryable: e.Retryable()}
	if step != nil {
		msg = fmt.Sprintf("step %d (%s): %s", step.Index, step.Op, msg)
		d.Message, d.Step, d.Op = msg, &step.Index, step.Op
	}
	body, _ := json.Marshal(ErrorBody{Error: d})
	return map[string][]string{
		micro.ErrorCodeHeader: {strconv.Itoa(Status(e.Kind))},
		micro.ErrorHeader:     {msg},
	}, body
}
