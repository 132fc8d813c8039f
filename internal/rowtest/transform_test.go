package rowtest

import (
	"encoding/json"
	"testing"
)

func TestTransforms(t *testing.T) {
	for _, tt := range []struct {
		name   string
		f      func([]byte) string
		client string
		want   string
	}{
		{"Int", Int, "-9007199254740992", "-9007199254740992"},
		{"Int", Int, "9007199254740993", `"9007199254740993"`},
		{"Int", Int, "18446744073709551615", `"18446744073709551615"`},
		{"Bit", Bit, "\x01", "1"},
		{"Bit", Bit, "\xff\xff\xff\xff\xff\xff\xff\xff", `"18446744073709551615"`},
		{"Text", Text, "a\"<\u2028", `"a\"\u003c\u2028"`},
		{"Float32", Float32, "1.1", "1.1"},
		{"Float32", Float32, "-3.40282e38", "-3.40282e+38"},
		{"Float64", Float64, "-0", "-0"},
		{"Float64", Float64, "0.1", "0.1"},
		{"Date", Date, "2024-02-29", `"2024-02-29"`},
		{"Date", Date, "0000-00-00", "null"},
		{"DateTime", DateTime, "2024-02-29 12:34:56.500000", `"2024-02-29T12:34:56.500000Z"`},
		{"DateTime", DateTime, "0000-00-00 00:00:00.000", "null"},
		{"Set", Set, "", "[]"},
		{"Set", Set, "a,c", `["a","c"]`},
		{"JSON", JSON, ` {"b": [1.50, "\u00e9"], "a": -0} `, `{"b":[1.50,"\u00e9"],"a":-0}`},
		{"Base64", Base64, "\x00\xff", `"AP8="`},
	} {
		if got := tt.f([]byte(tt.client)); got != tt.want {
			t.Errorf("%s(%q) = %s, want %s", tt.name, tt.client, got, tt.want)
		}
	}
	// What a transformation does not expect is not JSON, so no comparison
	// passes.
	for _, tt := range []struct {
		name   string
		f      func([]byte) string
		client string
	}{
		{"Int", Int, "1.5"}, {"Float64", Float64, "x"}, {"DateTime", DateTime, "2024-02-29"}, {"JSON", JSON, "{"},
	} {
		if got := tt.f([]byte(tt.client)); json.Valid([]byte(got)) {
			t.Errorf("%s(%q) = %s, valid JSON", tt.name, tt.client, got)
		}
	}
}
