package rawsql

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/dbapi-dev/dbapi"
)

func TestArgs(t *testing.T) {
	tests := []struct {
		in   string
		want []any
		bad  bool
	}{
		{``, nil, false},
		{`null`, nil, false},
		{`[]`, []any{}, false},
		{`[1, -2, 9223372036854775807]`, []any{int64(1), int64(-2), int64(9223372036854775807)}, false},
		{`[18446744073709551615]`, []any{uint64(18446744073709551615)}, false},
		{`[1.50, 1e3, 123456789012345678901234567890]`, []any{"1.50", "1e3", "123456789012345678901234567890"}, false},
		{`["x", true, null]`, []any{"x", true, nil}, false},
		{`[{"a":1}, [1,"b"]]`, []any{`{"a":1}`, `[1,"b"]`}, false},
		{`{"a":1}`, nil, true},
		{`"x"`, nil, true},
		{`[1,`, nil, true},
	}
	for _, tt := range tests {
		got, err := Args(json.RawMessage(tt.in))
		if tt.bad {
			if !errors.Is(err, dbapi.ErrInvalid) {
				t.Errorf("Args(%s) = %v, %v; want an invalid error", tt.in, got, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Args(%s) = %#v, %v; want %#v", tt.in, got, err, tt.want)
		}
	}
}

// FuzzArgs: args come from clients. Args never panics, refuses with a
// client error, and returns only values the driver accepts.
func FuzzArgs(f *testing.F) {
	for _, s := range []string{`[1,"a",null,true,1.5,{"x":[1]}]`, `[]`, `null`, `[18446744073709551616]`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		args, err := Args(raw)
		if err != nil {
			if !errors.Is(err, dbapi.ErrInvalid) {
				t.Fatalf("Args(%q): %v is not an invalid-request error", raw, err)
			}
			return
		}
		for _, a := range args {
			switch a.(type) {
			case nil, int64, uint64, string, bool:
			default:
				t.Fatalf("Args(%q) returned a %T", raw, a)
			}
		}
	})
}
