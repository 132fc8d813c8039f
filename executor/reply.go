package executor

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/batch"
	"github.com/dbapi-dev/dbapi/protocol"
)

// The reply headers of an error, named as the NATS micro package names
// them, and of a reply replayed from a stored outcome (see protocol).
const (
	HeaderErrorCode = protocol.HeaderErrorCode
	HeaderError     = protocol.HeaderError
	HeaderReplayed  = protocol.HeaderReplayed
)

// StatusOK is the status of a successful reply (which carries no status
// header).
const StatusOK = 200

// ErrorBody and ErrorDetail are the error reply's body (see protocol).
type (
	ErrorBody   = protocol.ErrorBody
	ErrorDetail = protocol.ErrorDetail
)

// ErrorReply returns the reply that reports err to a client: the status
// and message headers and the error body. Only dbapi.Error messages reach
// the client; any other error is reported as a bare "internal error". A
// failed batch step (a *batch.StepError in err's chain) is named in the
// message and the body.
func ErrorReply(err error) Reply {
	e := dbapi.AsError(err)
	msg := e.Message
	if msg == "" {
		msg = e.Kind
	}
	// The one place where errors become reply codes: protocol's table.
	c := protocol.Lookup(e.Kind, e.ErrorCode())
	d := ErrorDetail{Code: c.Code, Message: msg, Retryable: c.Retryable}
	var step *batch.StepError
	if errors.As(err, &step) {
		msg = fmt.Sprintf("step %d (%s): %s", step.Index, step.Op, msg)
		d.Message, d.Step, d.Op = msg, &step.Index, step.Op
	}
	body, _ := json.Marshal(ErrorBody{Error: d})
	status := c.Status
	return Reply{
		Status: status,
		Code:   d.Code,
		Header: map[string][]string{
			HeaderErrorCode: {strconv.Itoa(status)},
			HeaderError:     {msg},
		},
		Body: body,
		Err:  err,
	}
}

// encode marshals an operation's result and checks it fits in limit bytes
// (no limit when limit <= 0). A json.RawMessage result (what rowjson
// produces) is sent as it is: the operation vouches that it is valid JSON.
func encode(res any, limit int) ([]byte, error) {
	body, ok := res.(json.RawMessage)
	if !ok || body == nil {
		var err error
		if body, err = json.Marshal(res); err != nil {
			return nil, &dbapi.Error{Kind: dbapi.EINTERNAL, Message: "internal error", Err: fmt.Errorf("encode result: %w", err)}
		}
	}
	if limit > 0 && len(body) > limit {
		return nil, dbapi.CodeErrorf(dbapi.ETOOLARGE, "result_too_large",
			"the result is %d bytes, over the %d bytes a reply can carry; ask for less (paginate)", len(body), limit)
	}
	return body, nil
}
