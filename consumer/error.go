package consumer

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/protocol"
)

// ErrorBody and ErrorDetail are the error reply's body (see protocol).
type (
	ErrorBody   = protocol.ErrorBody
	ErrorDetail = protocol.ErrorDetail
)

// errorReply returns the headers and body that report err to a client.
// Only dbapi.Error messages reach the client; any other error is reported
// as a bare "internal error".
func errorReply(err error, step *StepInfo) (map[string][]string, []byte) {
	e := dbapi.AsError(err)
	msg := e.Message
	if msg == "" {
		msg = e.Kind
	}
	c := protocol.Lookup(e.Kind, e.ErrorCode())
	d := ErrorDetail{Code: c.Code, Message: msg, Retryable: c.Retryable}
	if step != nil {
		msg = fmt.Sprintf("step %d (%s): %s", step.Index, step.Op, msg)
		d.Message, d.Step, d.Op = msg, &step.Index, step.Op
	}
	body, _ := json.Marshal(ErrorBody{Error: d})
	return map[string][]string{
		protocol.HeaderErrorCode: {strconv.Itoa(c.Status)},
		protocol.HeaderError:     {msg},
	}, body
}
