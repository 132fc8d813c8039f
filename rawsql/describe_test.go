package rawsql

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/dbapi-dev/dbapi"
)

func TestOperationsAreDescribed(t *testing.T) {
	want := map[string]dbapi.ResultKind{"sql.exec": dbapi.ResultExec, "sql.query": dbapi.ResultMany}
	for _, op := range Operations(0) {
		if err := op.Validate(); err != nil {
			t.Error(err)
		}
		if op.Result != want[op.Name] {
			t.Errorf("%s: result %q, want %q", op.Name, op.Result, want[op.Name])
		}
		var s struct {
			Required   []string
			Properties map[string]any
		}
		if err := json.Unmarshal(op.Params, &s); err != nil || len(s.Required) != 1 || s.Required[0] != "sql" {
			t.Errorf("%s: params schema %s: %v", op.Name, op.Params, err)
		}
		// Every field of the request is in the schema, and nothing else.
		rt := reflect.TypeOf(request{})
		if len(s.Properties) != rt.NumField() {
			t.Errorf("%s: properties %v, want one per field of request", op.Name, s.Properties)
		}
		for i := range rt.NumField() {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			if s.Properties[name] == nil {
				t.Errorf("%s: field %q is not in the schema", op.Name, name)
			}
		}
	}
}
