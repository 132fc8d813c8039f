package protocol

import "encoding/json"

// ErrorBody is the JSON body of an error reply:
//
//	{"error":{"code":"insufficient_funds","message":"...","retryable":false}}
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes the error of an error reply.
type ErrorDetail struct {
	// Code is a stable machine-readable code: one of Codes, or an
	// operation's own code (such as "insufficient_funds").
	Code string `json:"code"`
	// Message is for people; it never holds SQL, driver text or secrets.
	Message string `json:"message"`
	// Retryable reports that the same request may be sent again later: it
	// was not applied and the cause may pass.
	Retryable bool `json:"retryable"`
	// Step and Op name the failed step of a batch (Step counts from 0).
	Step *int   `json:"step,omitempty"`
	Op   string `json:"op,omitempty"`
}

// BatchRequest is the body of a batch: steps run in order in one
// transaction.
//
//	{"ops":[{"op":"accounts.open","params":{"owner":"ann"},"as":"a"},
//	        {"op":"accounts.transfer","params":{"from":"$a.id","to":1,"amount":"1.00"}}]}
type BatchRequest struct {
	Ops []BatchStep `json:"ops"`
}

// BatchStep is one step of a batch. A string parameter "$alias.path"
// refers to the result of an earlier step named by As; "$$" escapes a
// literal "$".
type BatchStep struct {
	Op     string          `json:"op"`
	Params json.RawMessage `json:"params,omitempty"`
	As     string          `json:"as,omitempty"`
}

// BatchResult is the reply of a successful batch: one result per step.
type BatchResult struct {
	Results []json.RawMessage `json:"results"`
}
