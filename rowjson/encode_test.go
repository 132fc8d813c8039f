package rowjson

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// These tests feed the encoder the Go values the driver produces, so they
// cover values a MariaDB column cannot hold (NaN, ±Inf) and both
// protocols' representations. The round trip through a real server is in
// roundtrip_test.go.
func TestAppendValue(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	tests := []struct {
		dbType string
		scale  int64
		json   bool
		v      any
		want   string // "" means an error
	}{
		{"NULL", -1, false, nil, `null`},
		{"INT", -1, false, nil, `null`},
		{"INT", -1, false, int64(-2147483648), `-2147483648`},
		{"BIGINT", -1, false, int64(1 << 53), `9007199254740992`},
		{"BIGINT", -1, false, int64(-1 << 53), `-9007199254740992`},
		{"BIGINT", -1, false, int64(1<<53 + 1), `"9007199254740993"`},
		{"BIGINT", -1, false, int64(-1<<53 - 1), `"-9007199254740993"`},
		{"BIGINT", -1, false, int64(math.MinInt64), `"-9223372036854775808"`},
		{"UNSIGNED BIGINT", -1, false, uint64(math.MaxUint64), `"18446744073709551615"`},
		{"UNSIGNED BIGINT", -1, false, []byte("18446744073709551615"), `"18446744073709551615"`}, // binary protocol
		{"UNSIGNED BIGINT", -1, false, []byte("12"), `12`},
		{"UNSIGNED BIGINT", -1, false, []byte("1x"), ``},
		{"YEAR", -1, false, int64(2155), `2155`},
		{"BIT", -1, false, []byte{1}, `1`},
		{"BIT", -1, false, []byte{0, 0, 0, 0, 0, 0, 1, 0}, `256`},
		{"BIT", -1, false, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, `"18446744073709551615"`},
		{"BIT", -1, false, make([]byte, 9), ``},
		{"DECIMAL", 2, false, []byte("-12.50"), `"-12.50"`},
		{"DECIMAL", 30, false, []byte("0.000000000000000000000000000001"), `"0.000000000000000000000000000001"`},
		{"DECIMAL", 0, false, []byte("99999999999999999999999999999999999999999999999999999999999999999"), `"99999999999999999999999999999999999999999999999999999999999999999"`},
		{"DECIMAL", 2, false, []byte("1e5"), ``},
		{"FLOAT", -1, false, float32(1.1), `1.1`},
		{"FLOAT", -1, false, float32(math.MaxFloat32), `3.4028235e+38`},
		{"FLOAT", -1, false, float32(math.Inf(1)), `"Infinity"`},
		{"FLOAT", -1, false, float32(math.NaN()), `"NaN"`},
		{"DOUBLE", -1, false, 0.1, `0.1`},
		{"DOUBLE", -1, false, math.Copysign(0, -1), `-0`},
		{"DOUBLE", -1, false, 1e-300, `1e-300`},
		{"DOUBLE", -1, false, math.MaxFloat64, `1.7976931348623157e+308`},
		{"DOUBLE", -1, false, math.Inf(1), `"Infinity"`},
		{"DOUBLE", -1, false, math.Inf(-1), `"-Infinity"`},
		{"DOUBLE", -1, false, math.NaN(), `"NaN"`},
		{"DOUBLE", -1, false, []byte("2.5"), `2.5`},
		{"DATE", -1, false, at("2024-02-29T00:00:00Z"), `"2024-02-29"`},
		{"DATE", -1, false, time.Time{}, `null`},
		{"DATE", -1, false, []byte("0000-00-00"), `null`},
		{"DATE", -1, false, []byte("2020-00-00"), `"2020-00-00"`}, // parseTime=false keeps it
		{"DATE", -1, false, []byte("2020-01-01 00:00:00"), ``},
		{"DATETIME", 0, false, at("2024-02-29T12:34:56.789Z"), `"2024-02-29T12:34:56Z"`},
		{"DATETIME", 3, false, at("2024-02-29T12:34:56Z"), `"2024-02-29T12:34:56.000Z"`},
		{"DATETIME", 3, false, at("2024-02-29T12:34:56.7Z"), `"2024-02-29T12:34:56.700Z"`},
		{"DATETIME", 6, false, at("9999-12-31T23:59:59.999999Z"), `"9999-12-31T23:59:59.999999Z"`},
		{"DATETIME", 31, false, at("2024-02-29T12:34:56.120Z"), `"2024-02-29T12:34:56.12Z"`},
		{"DATETIME", -1, false, at("2024-02-29T12:34:56Z"), `"2024-02-29T12:34:56Z"`},
		{"TIMESTAMP", 0, false, at("2024-02-29T12:34:56Z").In(paris), `"2024-02-29T12:34:56Z"`},
		{"TIMESTAMP", 0, false, time.Time{}, `null`},
		{"DATETIME", 6, false, []byte("0000-00-00 00:00:00.000000"), `null`},
		{"DATETIME", 6, false, []byte("2024-02-29 12:34:56.000100"), `"2024-02-29T12:34:56.000100Z"`},
		{"DATETIME", 0, false, []byte("2024-02-29 12:34:56"), `"2024-02-29T12:34:56Z"`},
		{"DATETIME", 0, false, []byte("2024-02-29T12:34:56"), ``},
		{"TIME", 0, false, []byte("-838:59:59"), `"-838:59:59"`},
		{"TIME", 6, false, []byte("838:59:59.000000"), `"838:59:59.000000"`},
		{"TIME", 0, false, []byte("00:00:00"), `"00:00:00"`},
		{"TIME", 0, false, []byte("1:2:3"), ``},
		{"VARCHAR", -1, false, []byte("héllo 👋🏽 \"\\\t\n<>"), `"héllo 👋🏽 \"\\\t\n\u003c\u003e"`},
		{"TEXT", -1, false, []byte(""), `""`},
		{"TEXT", -1, false, []byte{'a', 0xff}, ``},
		{"ENUM", -1, false, []byte("b"), `"b"`},
		{"SET", -1, false, []byte(""), `[]`},
		{"SET", -1, false, []byte("a,c"), `["a","c"]`},
		{"TEXT", -1, true, []byte("{\n  \"a\": [1, 2.50, \"\\u00e9\"]\n}"), `{"a":[1,2.50,"\u00e9"]}`},
		{"TEXT", -1, true, []byte("null"), `null`},
		{"TEXT", -1, true, []byte(""), ``},
		{"TEXT", -1, true, []byte("{"), ``},
		{"JSON", -1, false, []byte(`[1, 2]`), `[1,2]`},
		{"BLOB", -1, false, []byte{0, 1, 2, 0xfe, 0xff}, `"AAEC/v8="`},
		{"BLOB", -1, false, []byte{}, `""`},
		{"VARBINARY", -1, false, []byte("\x00"), `"AA=="`},
		{"INT", -1, false, time.Time{}, ``},
		{"TEXT", -1, false, int64(1), ``},
	}
	for _, tt := range tests {
		c, err := newColumn("c", tt.dbType, tt.scale, tt.json)
		if err != nil {
			t.Fatalf("newColumn(%s): %v", tt.dbType, err)
		}
		got, err := c.appendValue(nil, tt.v)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("%s %#v: got %s, want an error", tt.dbType, tt.v, got)
		case tt.want != "" && err != nil:
			t.Errorf("%s %#v: %v", tt.dbType, tt.v, err)
		case tt.want != "" && string(got) != tt.want:
			t.Errorf("%s %#v: got %s, want %s", tt.dbType, tt.v, got, tt.want)
		case err == nil && !json.Valid(got):
			t.Errorf("%s %#v: %s is not valid JSON", tt.dbType, tt.v, got)
		}
	}
}

func TestNewColumn(t *testing.T) {
	if _, err := newColumn("c", "INTERVAL", -1, false); err == nil || !strings.Contains(err.Error(), `"c"`) {
		t.Errorf("unknown type: got %v, want an error naming the column", err)
	}
	if _, err := newColumn("n", "INT", -1, true); err == nil {
		t.Error("JSON on an INT column: no error")
	}
	if c, err := newColumn("n", "NULL", -1, true); err != nil || c.kind != kindNull {
		t.Errorf("JSON on a NULL column: got %v, %v", c.kind, err)
	}
	c, err := newColumn("a\"b", "INT", -1, false)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.key) != `"a\"b":` {
		t.Errorf("key = %s", c.key)
	}
}

// FuzzAppendValue checks that whatever the driver hands over, the encoder
// either fails or writes valid JSON, and never panics.
func FuzzAppendValue(f *testing.F) {
	f.Add([]byte("12.5"), int64(-1), uint64(1), 0.5, float32(1))
	f.Add([]byte("-838:59:59"), int64(1<<53+1), uint64(math.MaxUint64), math.Inf(1), float32(math.NaN()))
	f.Add([]byte("{\"a\":[1]}"), int64(0), uint64(0), math.Copysign(0, -1), float32(0))
	f.Add([]byte{0xff, 0xfe, '"', '\\', 0}, int64(math.MinInt64), uint64(1<<53), math.NaN(), float32(math.Inf(-1)))
	types := make([]string, 0, len(kinds))
	for name := range kinds {
		types = append(types, name)
	}
	f.Fuzz(func(t *testing.T, b []byte, i int64, u uint64, d float64, s float32) {
		for _, typ := range types {
			for _, isJSON := range []bool{false, true} {
				for _, scale := range []int64{-1, 0, 3, 6, 31} {
					c, err := newColumn("c", typ, scale, isJSON)
					if err != nil {
						continue
					}
					for _, v := range []any{b, string(b), i, u, d, s, time.Unix(i%(1<<40), int64(u%1e9)).UTC()} {
						out, err := c.appendValue(nil, v)
						if err == nil && !json.Valid(out) {
							t.Fatalf("%s (json %v) %#v: invalid JSON %q", typ, isJSON, v, out)
						}
					}
				}
			}
		}
	})
}
