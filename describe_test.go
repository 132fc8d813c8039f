package dbapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/dbapi-dev/dbapi"
	"github.com/jmoiron/sqlx"
)

func ExampleSchemaOf() {
	type transferParams struct {
		From   uint64 `json:"from" jsonschema:"minimum=1"`
		To     uint64 `json:"to" jsonschema:"minimum=1"`
		Amount string `json:"amount"`
		Memo   string `json:"memo,omitempty" jsonschema:"maxLength=100"`
	}
	fmt.Println(string(dbapi.SchemaOf(transferParams{})))
	// Output:
	// {"properties":{"from":{"type":"integer","minimum":1},"to":{"type":"integer","minimum":1},"amount":{"type":"string"},"memo":{"type":"string","maxLength":100}},"additionalProperties":false,"type":"object","required":["from","to","amount"]}
}

func TestOperationDescription(t *testing.T) {
	run := func(context.Context, *sqlx.Tx, json.RawMessage) (any, error) { return nil, nil }
	tests := []struct {
		name string
		op   dbapi.Operation
		err  string // "" means valid
	}{
		{"not described", dbapi.Operation{Name: "a.b", Run: run}, ""},
		{"described", dbapi.Operation{Name: "a.b", Run: run, Params: json.RawMessage(`{"type":"object"}`), Result: dbapi.ResultMany}, ""},
		{"unknown kind", dbapi.Operation{Name: "a.b", Run: run, Result: "rows"}, `result kind "rows"`},
		{"params not JSON", dbapi.Operation{Name: "a.b", Run: run, Params: json.RawMessage(`{`)}, "Params is not JSON"},
		{"params not an object", dbapi.Operation{Name: "a.b", Run: run, Params: json.RawMessage(`true`)}, "Params is not a JSON Schema object"},
		{"result schema not an object", dbapi.Operation{Name: "a.b", Run: run, ResultSchema: json.RawMessage(`[]`)}, "ResultSchema is not"},
		{"own errors", dbapi.Operation{Name: "a.b", Run: run, Errors: []dbapi.OperationError{{Kind: dbapi.ECONFLICT, Code: "no_copies_left"}, {Kind: dbapi.ENOTFOUND, Code: "x2"}}}, ""},
		{"error code not snake case", dbapi.Operation{Name: "a.b", Run: run, Errors: []dbapi.OperationError{{Kind: dbapi.ECONFLICT, Code: "NoCopies"}}}, `error code "NoCopies": want lower_snake_case`},
		{"error code twice", dbapi.Operation{Name: "a.b", Run: run, Errors: []dbapi.OperationError{{Kind: dbapi.ECONFLICT, Code: "x"}, {Kind: dbapi.EINVALID, Code: "x"}}}, `error code "x" is listed twice`},
		{"error of no kind", dbapi.Operation{Name: "a.b", Run: run, Errors: []dbapi.OperationError{{Kind: "bad", Code: "x"}}}, `kind "bad"`},
	}
	for _, tt := range tests {
		err := tt.op.Validate()
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.err)
		}
	}
	op := dbapi.Operation{Name: "a.b", Run: run, Result: dbapi.ResultExec}
	if string(op.ParamsSchema()) != `{"type":"object"}` {
		t.Errorf("default params schema: %s", op.ParamsSchema())
	}
	if string(op.ResultSchemaOrKind()) != string(dbapi.ResultExec.Schema()) {
		t.Errorf("result schema of an exec: %s", op.ResultSchemaOrKind())
	}
	op.Errors = []dbapi.OperationError{{Kind: dbapi.ECONFLICT, Code: "no_copies_left", Message: "none <left> & gone"}, {Kind: dbapi.EUNAVAILABLE, Code: "busy"}}
	if got := op.ErrorsJSON(); got != `[{"code":"no_copies_left","status":409,"retryable":false,"message":"none <left> & gone"},{"code":"busy","status":503,"retryable":true,"message":""}]` {
		t.Errorf("ErrorsJSON: %s", got)
	}
	if got := (dbapi.Operation{}).ErrorsJSON(); got != "" {
		t.Errorf("ErrorsJSON without errors: %q", got)
	}
	for _, k := range []dbapi.ResultKind{"", dbapi.ResultOne, dbapi.ResultMany, dbapi.ResultExec} {
		if !json.Valid(k.Schema()) {
			t.Errorf("%q: schema is not JSON: %s", k, k.Schema())
		}
	}
}
