package executor

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/batch"
)

// The reply headers of an error, named as the NATS micro package names
// them, and of a reply replayed from a stored outcome.
const (
	HeaderErrorCode = "Nats-Service-Error-Code"
	HeaderError     = "Nats-Service-Error"
	HeaderReplayed  = "Dbapi-Replayed"
)

// StatusOK is the status of a successful reply (which carries no status
// header).
const StatusOK = 200

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
	d := ErrorDetail{Code: e.ErrorCode(), Message: msg, Retryable: e.Retryable()}
	var step *batch.StepError
	if errors.As(err, &step) {
		msg = fmt.Sprintf("step %d (%s): %s", step.Index, step.Op, msg)
		d.Message, d.Step, d.Op = msg, &step.Index, step.Op
	}
	body, _ := json.Marshal(ErrorBody{Error: d})
	status := Status(e.Kind)
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
