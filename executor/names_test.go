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

// Group commit says how many workers it needs: room for the requests
// that wait in forming groups (they hold no connection), beside one per
// pooled connection.
func TestWorkers(t *testing.T) {
	run := func(context.Context, *sqlx.Tx, json.RawMessage) (any, error) { return nil, nil }
	for _, tt := range []struct {
		name      string
		coalesces bool
		max       int
		want      int
	}{
		{"no operation coalesces", false, 8, 16},
		{"an operation coalesces: room to fill the groups", true, 8, 16 + 8*4},
		{"group commit off", true, 1, 16},
	} {
		reg, _ := dbapi.NewRegistry(dbapi.Operation{Name: "x", Run: run, Coalesce: tt.coalesces})
		e := executor.New(nil, reg, executor.Config{Coalesce: executor.CoalesceConfig{MaxGroup: tt.max, MaxGroups: 4}})
		if got := e.Workers(16); got != tt.want {
			t.Errorf("%s: Workers(16) = %d, want %d", tt.name, got, tt.want)
		}
	}
}
