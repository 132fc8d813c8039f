package catalog

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi"
)

func everything(t testing.TB) *Definition {
	t.Helper()
	d, err := Parse("everything.sql", []byte(everythingSQL))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// everythingSQL declares one parameter of each type (the same as
// testdata/good/everything.sql, kept here so the fuzz test is self-contained).
const everythingSQL = `-- name: test.everything
-- param: i int min=-5 max=5
-- param: d decimal(20,2) nullable default="0.00"
-- param: s string(3)
-- param: b bool default=false
-- param: t time nullable
-- param: day date nullable
-- param: raw bytes(4) nullable
-- param: doc json nullable
-- param: note string default="a b \"c\""
-- param: big int nullable
-- result: one
SELECT :i, :d, :s, :b, :t, :day, :raw, :doc, :note, :big
`

func TestDecodeParams(t *testing.T) {
	d := everything(t)
	base := map[string]any{"i": int64(1), "d": "0.00", "s": "abc", "b": false, "t": nil, "day": nil, "raw": nil, "doc": nil, "note": `a b "c"`, "big": nil}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		body  string
		want  map[string]any
		code  string // error code; the message must then contain field
		field string
	}{
		{`{"i":1,"s":"abc"}`, base, "", ""},
		{` {"s":"abc","i":1} `, base, "", ""},
		{`{"i":"1","s":"abc"}`, base, "", ""},
		{`{"i":-5,"s":"😀😀😀"}`, with("i", int64(-5), "s", "😀😀😀"), "", ""},
		{`{"i":1,"s":"","d":"-12.5","b":true,"t":"2024-02-29T13:34:56.123456+01:00","day":"2024-02-29","raw":"AAEC/w==","doc":{"a": [1, 2.50]},"note":"x' OR '1'='1","big":"18446744073709551615"}`,
			with("s", "", "d", "-12.5", "b", true, "t", time.Date(2024, 2, 29, 12, 34, 56, 123456000, time.UTC), "day", "2024-02-29",
				"raw", []byte{0, 1, 2, 255}, "doc", `{"a":[1,2.50]}`, "note", "x' OR '1'='1", "big", uint64(18446744073709551615)), "", ""},
		{`{"i":1,"s":"abc","d":null,"doc":"null"}`, with("d", nil, "doc", `"null"`), "", ""},
		{`{"i":1,"s":"abc","big":-9223372036854775808}`, with("big", int64(-9223372036854775808)), "", ""},
		{`{"i":1,"s":"abc","d":"999999999999999999.99"}`, with("d", "999999999999999999.99"), "", ""},
		{`{"i":1,"s":"abc","d":"000000000000000000001.5"}`, with("d", "000000000000000000001.5"), "", ""},

		{``, nil, "missing_param", `"i"`},
		{`{}`, nil, "missing_param", `"i"`},
		{`{"i":1}`, nil, "missing_param", `"s"`},
		{`{"i":null,"s":"abc"}`, nil, "bad_param", `"i"`},
		{`{"i":1,"s":null}`, nil, "bad_param", `"s"`},
		{`{"i":1.5,"s":"abc"}`, nil, "bad_param", `"i"`},
		{`{"i":1e0,"s":"abc"}`, nil, "bad_param", `"i"`},
		{`{"i":"1.0","s":"abc"}`, nil, "bad_param", `"i"`},
		{`{"i":" 1","s":"abc"}`, nil, "bad_param", `"i"`},
		{`{"i":true,"s":"abc"}`, nil, "bad_param", `"i"`},
		{`{"i":6,"s":"abc"}`, nil, "bad_param", `"i"`},
		{`{"i":-6,"s":"abc"}`, nil, "bad_param", `"i"`},
		{`{"i":99999999999999999999999,"s":"abc"}`, nil, "bad_param", `"i"`},
		{`{"i":1,"s":"abc","big":18446744073709551616}`, nil, "bad_param", `"big"`},
		{`{"i":1,"s":"abcd"}`, nil, "bad_param", `"s"`},
		{`{"i":1,"s":1}`, nil, "bad_param", `"s"`},
		{`{"i":1,"s":"abc","d":12.5}`, nil, "bad_param", `"d"`},
		{`{"i":1,"s":"abc","d":"12.555"}`, nil, "bad_param", `"d"`},
		{`{"i":1,"s":"abc","d":"1234567890123456789.5"}`, nil, "bad_param", `"d"`},
		{`{"i":1,"s":"abc","d":"1e5"}`, nil, "bad_param", `"d"`},
		{`{"i":1,"s":"abc","d":"+1"}`, nil, "bad_param", `"d"`},
		{`{"i":1,"s":"abc","d":".5"}`, nil, "bad_param", `"d"`},
		{`{"i":1,"s":"abc","b":"true"}`, nil, "bad_param", `"b"`},
		{`{"i":1,"s":"abc","b":1}`, nil, "bad_param", `"b"`},
		{`{"i":1,"s":"abc","t":"2024-02-29 12:34:56"}`, nil, "bad_param", `"t"`},
		{`{"i":1,"s":"abc","t":"2024-02-30T00:00:00Z"}`, nil, "bad_param", `"t"`},
		{`{"i":1,"s":"abc","t":1709210096}`, nil, "bad_param", `"t"`},
		{`{"i":1,"s":"abc","day":"2024-02-30"}`, nil, "bad_param", `"day"`},
		{`{"i":1,"s":"abc","day":"2024-2-3"}`, nil, "bad_param", `"day"`},
		{`{"i":1,"s":"abc","raw":"AAECAwQ="}`, nil, "bad_param", `"raw"`},
		{`{"i":1,"s":"abc","raw":"AAE"}`, nil, "bad_param", `"raw"`},
		{`{"i":1,"s":"abc","raw":"AA-_"}`, nil, "bad_param", `"raw"`},
		{`{"i":1,"s":"abc","raw":[0,1]}`, nil, "bad_param", `"raw"`},
		{`{"i":1,"s":"abc","note":["x"]}`, nil, "bad_param", `"note"`},
		{`{"i":1,"s":"abc","extra":1}`, nil, "unknown_param", `"extra"`},
		{`{"i":1,"s":"abc","I":1}`, nil, "unknown_param", `"I"`},
		{`{"i":1,"s":"abc","i":2}`, nil, "duplicate_param", `"i"`},
		{`{"i":1,"s":"abc","doc":{"a":1,"a":2}}`, nil, "duplicate_param", `"doc.a"`},
		{"{\"i\":1,\"s\":\"a\xff\"}", nil, "bad_text", `"s"`},
		{`{"i":1,"s":"\ud800"}`, nil, "bad_text", `"s"`},
		{`{"i":1,"s":"abc","doc":["\udfff"]}`, nil, "bad_text", `"doc.0"`},
		{"{\"i\":1,\"s\xff\":1}", nil, "bad_text", ""},
		{"\xef\xbb\xbf{\"i\":1,\"s\":\"abc\"}", nil, "malformed_json", "byte order mark"},
		{"\u00a0{\"i\":1,\"s\":\"abc\"}", nil, "bad_request", ""},
		{`[{"i":1}]`, nil, "bad_request", ""},
		{`"x"`, nil, "bad_request", ""},
		{`{"i":1,"s":"abc"`, nil, "malformed_json", ""},
		{`{"i":1,"s":"abc"} {}`, nil, "malformed_json", ""},
		{`{"i":1,"s":"abc",}`, nil, "malformed_json", ""},
	}
	for _, tt := range tests {
		got, err := d.DecodeParams([]byte(tt.body))
		if tt.code == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.body, err)
			} else if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s:\ngot  %#v\nwant %#v", tt.body, got, tt.want)
			}
			continue
		}
		var de *dbapi.Error
		if !errors.As(err, &de) || de.Kind != dbapi.EINVALID || de.ErrorCode() != tt.code || !strings.Contains(de.Message, tt.field) {
			t.Errorf("%s: got %#v, %v; want an EINVALID %s error naming %s", tt.body, got, err, tt.code, tt.field)
		}
	}
}

// Error messages name the field but never repeat the value, and cut long
// unknown names short.
func TestDecodeParamsMessages(t *testing.T) {
	d := everything(t)
	secret := "s3cr3t-value"
	for _, body := range []string{
		`{"i":"` + secret + `","s":"abc"}`,
		`{"i":1,"s":"` + secret + `"}`,
		`{"i":1,"s":"abc","d":"` + secret + `"}`,
		`{"i":1,"s":"abc","raw":"` + secret + `"}`,
		`{"i":1,"s":"abc","t":"` + secret + `"}`,
	} {
		_, err := d.DecodeParams([]byte(body))
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("%s: got %v; want an error that does not repeat the value", body, err)
		}
	}
	long := strings.Repeat("é", 1000)
	_, err := d.DecodeParams([]byte(`{"` + long + `":1}`))
	if err == nil || len(err.Error()) > 200 {
		t.Errorf("long unknown name: got %v", err)
	}
}
