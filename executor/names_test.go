package executor_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/executor"
	"github.com/jmoiron/sqlx"
)

// The names the wire contract reserves cannot name an operation.
func TestCheckNames(t *testing.T) {
	run := func(context.Context, *sqlx.Tx, json.RawMessage) (any, error) { return nil, nil }
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"batch", false}, {"outcome", false}, {"durable", false}, {"durable.accounts.transfer", false},
		{"batches", true}, {"durables", true}, {"accounts.durable", true}, {"outcome.get", true},
	} {
		reg, err := dbapi.NewRegistry(dbapi.Operation{Name: tt.name, Run: run})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		err = executor.New(nil, reg, executor.Config{}).CheckNames()
		if (err == nil) != tt.ok {
			t.Errorf("operation %q: CheckNames = %v; want ok %v", tt.name, err, tt.ok)
		}
	}
}
