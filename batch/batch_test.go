package batch

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/dbapi-dev/dbapi"
	"github.com/jmoiron/sqlx"
)

func testRegistry(t testing.TB) *dbapi.Registry {
	echo := func(_ context.Context, _ *sqlx.Tx, p json.RawMessage) (any, error) { return p, nil }
	reg, err := dbapi.NewRegistry(
		dbapi.Operation{Name: "a.read", Run: echo, ReadOnly: true},
		dbapi.Operation{Name: "a.write", Run: echo},
	)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestPlanBatch(t *testing.T) {
	reg := testRegistry(t)
	tests := []struct {
		name     string
		body     string
		code     string // "" means valid
		readOnly bool
	}{
		{"read only steps", `{"ops":[{"op":"a.read"},{"op":"a.read","params":{"x":1}}]}`, "", true},
		{"one write makes it read-write", `{"ops":[{"op":"a.read","as":"r"},{"op":"a.write","params":{"x":"$r.x"}}]}`, "", false},
		{"escaped dollar is no reference", `{"ops":[{"op":"a.read","params":{"x":"$$r.x"}}]}`, "", true},
		{"null params", `{"ops":[{"op":"a.read","params":null}]}`, "", true},
		{"reference to itself", `{"ops":[{"op":"a.read","as":"r","params":{"x":"$r.x"}}]}`, "unresolvable_reference", false},
		{"reference inside an array", `{"ops":[{"op":"a.read","params":{"x":["$q"]}}]}`, "unresolvable_reference", false},
		{"bad alias", `{"ops":[{"op":"a.read","as":"1x"}]}`, "bad_alias", false},
		{"unknown op", `{"ops":[{"op":"batch"}]}`, "unknown_operation", false},
		{"empty", `{}`, "missing_param", false},
		{"too many", `{"ops":[{"op":"a.read"},{"op":"a.read"},{"op":"a.read"},{"op":"a.read"}]}`, "batch_too_large", false},
		{"ops not an array", `{"ops":{}}`, "bad_param", false},
		{"params not JSON", `{"ops":[{"op":"a.read","params":"$x"}]}`, "unresolvable_reference", false},
		{"ops twice", `{"ops":[{"op":"a.write"}],"ops":[{"op":"a.read"}]}`, "duplicate_param", false},
		{"op twice in a step", `{"ops":[{"op":"a.write","op":"a.read"}]}`, "duplicate_param", false},
		{"name twice in a step's params", `{"ops":[{"op":"a.write","params":{"x":1,"x":2}}]}`, "duplicate_param", false},
		{"OPS in upper case", `{"OPS":[{"op":"a.read"}]}`, "unknown_param", false},
		{"Params in title case", `{"ops":[{"op":"a.read","Params":{"x":1}}]}`, "unknown_param", false},
		{"unknown step field", `{"ops":[{"op":"a.read","alias":"r"}]}`, "unknown_param", false},
		{"invalid UTF-8 in params", "{\"ops\":[{\"op\":\"a.read\",\"params\":{\"x\":\"a\xff\"}}]}", "bad_text", false},
		{"lone surrogate in params", `{"ops":[{"op":"a.read","params":{"x":"\ud800"}}]}`, "bad_text", false},
		{"byte order mark", "\xef\xbb\xbf{\"ops\":[{\"op\":\"a.read\"}]}", "malformed_json", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, err := Plan(reg, []byte(tt.body), 3)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Plan: %v", err)
				}
				if op.ReadOnly != tt.readOnly {
					t.Errorf("read-only = %v, want %v", op.ReadOnly, tt.readOnly)
				}
				return
			}
			var e *dbapi.Error
			if !errors.As(err, &e) || e.ErrorCode() != tt.code {
				t.Fatalf("got %v; want code %s", err, tt.code)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	var result any
	json.Unmarshal([]byte(`{"id":7,"rows":[{"n":"x"}],"s":"str"}`), &result)
	results := map[string]any{"a": result}
	tests := []struct {
		in   string
		want any
		ok   bool
	}{
		{"$a.id", 7.0, true},
		{"$a.rows.0.n", "x", true},
		{"$a.s", "str", true},
		{"$a.rows.1.n", nil, false},
		{"$a.nope", nil, false},
		{"$a.s.x", nil, false},
	}
	for _, tt := range tests {
		r, _ := parseRef(tt.in)
		got, err := resolve(r, results)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("resolve(%s) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// FuzzPlanBatch: a batch body is outside input. Planning never panics and
// every refusal is a *dbapi.Error a client can be shown.
func FuzzPlanBatch(f *testing.F) {
	for _, s := range []string{
		`{"ops":[{"op":"a.read","as":"r"},{"op":"a.write","params":{"x":"$r.x","y":["$$z",{"q":"$r"}]}}]}`,
		`{"ops":[]}`, `{"ops":[{"op":"a.read","params":null}]}`, `[]`, `{"ops":[{"op":"a.read","as":""}]}`,
	} {
		f.Add([]byte(s))
	}
	reg := testRegistry(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		p, _, err := planSteps(reg, body, 100)
		if err != nil {
			var e *dbapi.Error
			if !errors.As(err, &e) || e.Kind == dbapi.EINTERNAL {
				t.Fatalf("Plan(%q): %v is not a client error", body, err)
			}
			return
		}
		if len(p.steps) == 0 || len(p.steps) > 100 {
			t.Fatalf("Plan(%q) accepted %d steps", body, len(p.steps))
		}
		for _, st := range p.steps {
			if st.refs {
				if _, err := substitute(st.params, map[string]any{}); err == nil {
					walkRefs(st.params, func(r ref) { t.Fatalf("reference %q resolved against no results", r.text) })
				}
			}
		}
	})
}
