package bank_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/examples/bank/bank"
	"github.com/dbapi-dev/dbapi/internal/dbtest"
	"github.com/dbapi-dev/dbapi/internal/schematest"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The JSON Schema each Go operation publishes accepts exactly the bodies
// the operation accepts as parameters, for everything a schema can say
// (not: a positive amount, two different accounts). The decision of the
// operation is read from a real run in a rolled-back transaction: an
// EINVALID error refuses the body; anything else (a reply, not_found)
// accepts it.
func TestParamsSchemaAgreesWithOperation(t *testing.T) {
	db, _ := dbtest.New(t, dbtest.Bank()...)
	ops := map[string]dbapi.Operation{}
	for _, op := range bank.Operations() {
		if op.Params == nil || op.Result != dbapi.ResultOne || op.ResultSchema == nil {
			t.Errorf("%s: not described: %+v", op.Name, op)
		}
		ops[op.Name] = op
	}
	tests := []struct{ op, body string }{
		{"accounts.open", `{"owner":"ann"}`},
		{"accounts.open", `{"owner":"ann","balance":"10.50"}`},
		{"accounts.open", `{"owner":"` + strings.Repeat("é", 255) + `"}`},
		{"accounts.open", `{"owner":"` + strings.Repeat("é", 256) + `"}`},
		{"accounts.open", `{"owner":""}`},
		{"accounts.open", `{}`},
		{"accounts.open", `{"owner":"ann","balance":10}`},
		{"accounts.open", `{"owner":"ann","balance":"1e3"}`},
		{"accounts.open", `{"owner":"ann","extra":1}`},
		{"accounts.open", `{"owner":7}`},
		{"accounts.transfer", `{"from":1,"to":2,"amount":"0.01"}`},
		{"accounts.transfer", `{"from":1,"to":2}`},
		{"accounts.transfer", `{"from":0,"to":2,"amount":"1"}`},
		{"accounts.transfer", `{"from":-1,"to":2,"amount":"1"}`},
		{"accounts.transfer", `{"from":1.5,"to":2,"amount":"1"}`},
		{"accounts.transfer", `{"from":"1","to":2,"amount":"1"}`},
		{"accounts.transfer", `{"from":1,"to":2,"amount":1}`},
		{"accounts.transfer", `{"from":1,"to":2,"amount":"1","memo":"x"}`},
	}
	schemas := map[string]*jsonschema.Schema{}
	for name, op := range ops {
		schemas[name] = schematest.Compile(t, op.Params)
		schematest.Compile(t, op.ResultSchema)
	}
	for _, tt := range tests {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		schemaErr := schemas[tt.op].Validate(inst)
		tx, err := db.BeginTxx(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, runErr := ops[tt.op].Run(context.Background(), tx, []byte(tt.body))
		tx.Rollback()
		refused := errors.Is(runErr, dbapi.ErrInvalid)
		if refused != (schemaErr != nil) {
			t.Errorf("%s %s: operation says %v, schema says %v", tt.op, tt.body, runErr, schemaErr)
		}
	}
}
