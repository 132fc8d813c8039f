package consumer

import (
	"encoding/json"
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
}

// errorReply returns the headers and body that report err to a client.
// Only dbapi.Error messages reach the client; any other error is reported
// as a bare "internal error".
func errorReply(err error) (map[string][]string, []byte) {
	e := dbapi.AsError(err)
	msg := e.Message
	if msg == "" {
		msg = e.Kind
	}
	body, _ := json.Marshal(ErrorBody{Error: ErrorDetail{Code: e.ErrorCode(), Message: msg, Retryable: e.Retryable()}})
	return map[string][]string{
		micro.ErrorCodeHeader: {strconv.Itoa(Status(e.Kind))},
		micro.ErrorHeader:     {msg},
	}, body
}
