package dbapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/dbapi-dev/dbapi"
)

type testParams struct {
	Name  string   `json:"name"`
	Count int64    `json:"count"`
	Ratio float64  `json:"ratio"`
	Flag  bool     `json:"flag"`
	Tags  []string `json:"tags"`
	Opt   struct {
		On bool `json:"on"`
	} `json:"opt"`
}

var decodeCases = []struct {
	name string
	in   string
	code string   // "" means success
	has  []string // the message must contain these
	not  []string // and must not contain these
}{
	{name: "empty body", in: ""},
	{name: "blank body", in: " \n\t\r "},
	{name: "empty object", in: "{}"},
	{name: "all fields", in: `{"name":"ann","count":-3,"ratio":0.5,"flag":true,"tags":["a"],"opt":{"on":true}}`},
	{name: "null leaves zero", in: `{"count":null,"tags":null}`},
	{name: "surrounding blanks", in: "\n {\"count\": 1}\n"},

	{name: "ends early", in: `{"name":`, code: "malformed_json"},
	{name: "open brace", in: `{`, code: "malformed_json"},
	{name: "missing colon", in: `{"name" "x"}`, code: "malformed_json"},
	{name: "unquoted key", in: `{name:"x"}`, code: "malformed_json"},
	{name: "leading zero", in: `{"count":01}`, code: "malformed_json"},
	{name: "trailing comma", in: `{"count":1,}`, code: "malformed_json"},
	{name: "single quotes", in: `{'name':'x'}`, code: "malformed_json"},

	{name: "string for integer", in: `{"count":"ten"}`, code: "bad_param", has: []string{`"count"`, "an integer", "string"}, not: []string{"ten"}},
	{name: "fraction for integer", in: `{"count":1.5}`, code: "bad_param", has: []string{`"count"`, "an integer"}, not: []string{"1.5"}},
	{name: "huge integer", in: `{"count":123456789012345678901234567890}`, code: "bad_param", has: []string{`"count"`}, not: []string{"1234567890"}},
	{name: "overflowing number", in: `{"ratio":1e400}`, code: "bad_param", has: []string{`"ratio"`, "a number"}, not: []string{"1e400"}},
	{name: "number for string", in: `{"name":5}`, code: "bad_param", has: []string{`"name"`, "a string", "number"}},
	{name: "string for number", in: `{"ratio":"1"}`, code: "bad_param", has: []string{`"ratio"`, "a number"}},
	{name: "string for bool", in: `{"flag":"yes"}`, code: "bad_param", has: []string{`"flag"`, "true or false"}, not: []string{"yes"}},
	{name: "string for array", in: `{"tags":"x"}`, code: "bad_param", has: []string{`"tags"`, "an array"}},
	{name: "bad array element", in: `{"tags":[1]}`, code: "bad_param", has: []string{`"tags"`, "a string"}},
	{name: "array for object", in: `{"opt":[]}`, code: "bad_param", has: []string{`"opt"`, "an object", "array"}},
	{name: "nested field", in: `{"opt":{"on":1}}`, code: "bad_param", has: []string{`"opt.on"`, "true or false"}},

	{name: "unknown field", in: `{"bogus":1}`, code: "unknown_param", has: []string{"bogus"}},
	{name: "unknown nested field", in: `{"opt":{"off":true}}`, code: "unknown_param", has: []string{"off"}},

	{name: "second object", in: `{}{}`, code: "malformed_json", has: []string{"after"}},
	{name: "trailing word", in: `{} x`, code: "malformed_json", has: []string{"after"}},
	{name: "trailing number", in: `{"name":"a"} 1`, code: "malformed_json", has: []string{"after"}},
	{name: "stray bracket", in: `{}]`, code: "malformed_json", has: []string{"after"}},
	{name: "stray brace", in: `{"count":1}}`, code: "malformed_json", has: []string{"after"}},
	{name: "unterminated string after", in: `{} "abc`, code: "malformed_json"},

	{name: "array", in: `[]`, code: "bad_request"},
	{name: "array of objects", in: `[{}]`, code: "bad_request"},
	{name: "string", in: `"x"`, code: "bad_request"},
	{name: "number", in: `1`, code: "bad_request"},
	{name: "null", in: `null`, code: "bad_request"},
	{name: "true", in: `true`, code: "bad_request"},
	{name: "garbage", in: `hello`, code: "bad_request"},
}

func TestDecodeParams(t *testing.T) {
	for _, tt := range decodeCases {
		t.Run(tt.name, func(t *testing.T) {
			var p testParams
			err := dbapi.DecodeParams([]byte(tt.in), &p)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("DecodeParams(%q): %v", tt.in, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("DecodeParams(%q) succeeded, want %s", tt.in, tt.code)
			}
			var de *dbapi.Error
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T) is not a *dbapi.Error", err, err)
			}
			if !errors.Is(err, dbapi.ErrInvalid) {
				t.Errorf("kind %q, want %q", de.Kind, dbapi.EINVALID)
			}
			if de.ErrorCode() != tt.code {
				t.Errorf("code %q, want %q (%s)", de.ErrorCode(), tt.code, de.Message)
			}
			for _, s := range tt.has {
				if !strings.Contains(de.Message, s) {
					t.Errorf("message %q does not contain %q", de.Message, s)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(de.Message, s) {
					t.Errorf("message %q contains %q", de.Message, s)
				}
			}
		})
	}
}

func TestDecodeParamsValues(t *testing.T) {
	var p testParams
	in := `{"name":"ann","count":-3,"ratio":0.5,"flag":true,"tags":["a","b"],"opt":{"on":true}}`
	if err := dbapi.DecodeParams([]byte(in), &p); err != nil {
		t.Fatal(err)
	}
	if p.Name != "ann" || p.Count != -3 || p.Ratio != 0.5 || !p.Flag || len(p.Tags) != 2 || !p.Opt.On {
		t.Errorf("decoded %+v", p)
	}
}

var (
	// badParamRE is the only shape of a bad_param message: the value
	// itself is never repeated, only its JSON kind.
	badParamRE = regexp.MustCompile(`^parameter ".*": want (an integer|a number|a string|true or false|an array|an object), got JSON (string|number|bool|array|object|null)$`)
	// fixedMessages are the messages that may not hold any input; digits
	// (byte offsets) are replaced by N.
	fixedMessages = map[string]bool{
		"the request body must be a JSON object":             true,
		"the request body has data after its JSON object":    true,
		"the request body is not valid JSON":                 true,
		"the request body is not valid JSON (at byte N)":     true,
		"the request body is not valid JSON (it ends early)": true,
	}
	digitsRE = regexp.MustCompile(`[0-9]+`)
)

func FuzzDecodeParams(f *testing.F) {
	for _, tt := range decodeCases {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var p testParams
		err := dbapi.DecodeParams(raw, &p)
		if err == nil {
			if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && !json.Valid(trimmed) {
				t.Fatalf("DecodeParams accepted invalid JSON %q", raw)
			}
			return
		}
		var de *dbapi.Error
		if !errors.As(err, &de) {
			t.Fatalf("error %v (%T) is not a *dbapi.Error", err, err)
		}
		if de.Kind != dbapi.EINVALID {
			t.Fatalf("kind %q, want %q: %v", de.Kind, dbapi.EINVALID, err)
		}
		switch de.ErrorCode() {
		case "unknown_param":
			if !strings.HasPrefix(de.Message, "unknown parameter ") {
				t.Fatalf("message %q", de.Message)
			}
		case "bad_param":
			if !badParamRE.MatchString(de.Message) {
				t.Fatalf("bad_param message %q repeats more than the parameter's name", de.Message)
			}
		case "malformed_json", "bad_request":
			if !fixedMessages[digitsRE.ReplaceAllString(de.Message, "N")] {
				t.Fatalf("unexpected message %q", de.Message)
			}
		default:
			t.Fatalf("unexpected code %q: %v", de.ErrorCode(), err)
		}
	})
}
