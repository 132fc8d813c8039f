package dbapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/dbapi-dev/dbapi/protocol"

	"github.com/invopop/jsonschema"
)

// ResultKind says what the reply of an operation holds.
type ResultKind string

// Result kinds, the same words as a declared operation's "-- result:".
const (
	ResultOne  ResultKind = "one"  // one JSON object
	ResultMany ResultKind = "many" // a JSON array of objects
	ResultExec ResultKind = "exec" // {"rows_affected":n,"last_insert_id":n}
)

// Schema returns the general JSON Schema of a reply of kind k: an
// object, an array of objects, or the exec object. An empty or unknown
// kind gives the schema that allows any JSON value.
func (k ResultKind) Schema() json.RawMessage {
	switch k {
	case ResultOne:
		return json.RawMessage(`{"type":"object"}`)
	case ResultMany:
		return json.RawMessage(`{"type":"array","items":{"type":"object"}}`)
	case ResultExec:
		return json.RawMessage(`{"type":"object","properties":{` +
			`"rows_affected":{"type":["integer","string"],"description":"rows changed by the last statement"},` +
			`"last_insert_id":{"type":["integer","string"],"description":"AUTO_INCREMENT id of the last insert; integers above 2^53 are strings"}},` +
			`"required":["rows_affected","last_insert_id"],"additionalProperties":false}`)
	}
	return json.RawMessage(`{}`)
}

// codeRE is the form of an error code: lower_snake_case.
var codeRE = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// anyObject is the parameters schema of an operation that does not
// describe its parameters.
var anyObject = json.RawMessage(`{"type":"object"}`)

// ParamsSchema returns op.Params, or the schema of any JSON object when
// the operation does not describe its parameters.
func (op Operation) ParamsSchema() json.RawMessage {
	if op.Params == nil {
		return anyObject
	}
	return op.Params
}

// ResultSchemaOrKind returns op.ResultSchema, or the general schema of
// op.Result when the operation gives none.
func (op Operation) ResultSchemaOrKind() json.RawMessage {
	if op.ResultSchema == nil {
		return op.Result.Schema()
	}
	return op.ResultSchema
}

// ErrorDoc is an operation's own error as clients see it described: its
// code, the status and retryable flag its kind gives it, and when it
// happens.
type ErrorDoc struct {
	Code      string `json:"code"`
	Status    int    `json:"status"`
	Retryable bool   `json:"retryable"`
	Message   string `json:"message"`
}

// ErrorDocs returns op.Errors with the status and retryable flag of each
// (from protocol's table, by kind), in op.Errors' order.
func (op Operation) ErrorDocs() []ErrorDoc {
	out := make([]ErrorDoc, len(op.Errors))
	for i, e := range op.Errors {
		row := protocol.Lookup(e.Kind, e.Code)
		out[i] = ErrorDoc{Code: e.Code, Status: row.Status, Retryable: row.Retryable, Message: e.Message}
	}
	return out
}

// ErrorsJSON returns op.ErrorDocs() as a JSON array (as the endpoint
// metadata carries it), or "" when the operation lists no errors.
func (op Operation) ErrorsJSON() string {
	if len(op.Errors) == 0 {
		return ""
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(op.ErrorDocs()); err != nil {
		panic(fmt.Sprintf("dbapi: errors of %s: %v", op.Name, err)) // plain values always encode
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func (op Operation) validDescription() error {
	switch op.Result {
	case "", ResultOne, ResultMany, ResultExec:
	default:
		return fmt.Errorf("operation %q: result kind %q: want one, many or exec", op.Name, op.Result)
	}
	seen := map[string]bool{}
	for _, e := range op.Errors {
		if !codeRE.MatchString(e.Code) {
			return fmt.Errorf("operation %q: error code %q: want lower_snake_case", op.Name, e.Code)
		}
		if seen[e.Code] {
			return fmt.Errorf("operation %q: error code %q is listed twice", op.Name, e.Code)
		}
		seen[e.Code] = true
		if protocol.Lookup(e.Kind, "").Kind != e.Kind {
			return fmt.Errorf("operation %q: error %q has kind %q, which the error table does not know", op.Name, e.Code, e.Kind)
		}
	}
	for what, s := range map[string]json.RawMessage{"Params": op.Params, "ResultSchema": op.ResultSchema} {
		if s == nil {
			continue
		}
		var v any
		if err := json.Unmarshal(s, &v); err != nil {
			return fmt.Errorf("operation %q: %s is not JSON: %w", op.Name, what, err)
		}
		if _, ok := v.(map[string]any); !ok {
			return fmt.Errorf("operation %q: %s is not a JSON Schema object", op.Name, what)
		}
	}
	return nil
}

// SchemaOf returns the JSON Schema of the JSON encoding of v's type, as
// package encoding/json reads and writes it: a struct's fields by their
// json names, every field required unless tagged omitempty, no other
// fields allowed (DecodeParams refuses them). Struct tags
// `jsonschema:"minimum=1,description=..."` add constraints (see
// github.com/invopop/jsonschema), and a type with a
// JSONSchema() *jsonschema.Schema method describes itself. Nested types are
// inlined, so the schema stands alone.
func SchemaOf(v any) json.RawMessage {
	r := &jsonschema.Reflector{DoNotReference: true, ExpandedStruct: true, Anonymous: true}
	s := r.Reflect(v)
	s.Version = "" // the surrounding document (AsyncAPI) names the dialect
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("dbapi.SchemaOf(%T): %v", v, err)) // a schema of plain values always encodes
	}
	return b
}
