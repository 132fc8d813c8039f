package schematest_test

import (
	"testing"

	"github.com/dbapi-dev/dbapi/internal/schematest"
)

// Compile asserts formats and content encodings: a value that is a string
// but not a date-time, or not base64, does not validate.
func TestCompileAssertsFormatAndContent(t *testing.T) {
	s := schematest.Compile(t, []byte(`{"type":"object","properties":{
		"at":{"type":"string","format":"date-time"},
		"b":{"type":"string","contentEncoding":"base64"}}}`))
	for _, c := range []struct {
		v    any
		want bool
	}{
		{map[string]any{"at": "2024-02-29T12:00:00Z", "b": "AAEC"}, true},
		{map[string]any{"at": "yesterday"}, false},
		{map[string]any{"b": "not base64!"}, false},
	} {
		if got := s.Validate(c.v) == nil; got != c.want {
			t.Errorf("%v valid: %v, want %v", c.v, got, c.want)
		}
	}
}
