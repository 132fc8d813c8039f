package dbapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

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
	{name: "bad array element", in: `{"tags":[1]}`, code: "bad_param", has: []string{`"tags.0"`, "a string"}},
	{name: "array for object", in: `{"opt":[]}`, code: "bad_param", has: []string{`"opt"`, "an object", "array"}},
	{name: "nested field", in: `{"opt":{"on":1}}`, code: "bad_param", has: []string{`"opt.on"`, "true or false"}},

	{name: "unknown field", in: `{"bogus":1}`, code: "unknown_param", has: []string{"bogus"}},
	{name: "unknown nested field", in: `{"opt":{"off":true}}`, code: "unknown_param", has: []string{"off"}},

	{name: "duplicate name", in: `{"count":1,"count":2}`, code: "duplicate_param", has: []string{`"count"`}},
	{name: "duplicate name, same value", in: `{"name":"a","name":"a"}`, code: "duplicate_param", has: []string{`"name"`}},
	{name: "duplicate nested name", in: `{"opt":{"on":true,"on":false}}`, code: "duplicate_param", has: []string{`"opt.on"`}},
	{name: "duplicate name in an unknown member", in: `{"bogus":{"a":1,"a":2}}`, code: "unknown_param"},
	{name: "duplicate spelled with an escape", in: `{"count":1,"\u0063ount":2}`, code: "duplicate_param", has: []string{`"count"`}},
	{name: "wrong case", in: `{"COUNT":1}`, code: "unknown_param", has: []string{`"COUNT"`}},
	{name: "title case", in: `{"Name":"x"}`, code: "unknown_param", has: []string{`"Name"`}},
	{name: "wrong case besides the right one", in: `{"count":1,"Count":2}`, code: "unknown_param", has: []string{`"Count"`}},
	{name: "Kelvin sign folds to k in v1", in: "{\"\u212aey\":1}", code: "unknown_param"},

	{name: "invalid UTF-8 in a value", in: "{\"name\":\"a\xff\xfeb\"}", code: "bad_text", has: []string{`"name"`}, not: []string{"\xff"}},
	{name: "overlong UTF-8", in: "{\"name\":\"\xc0\xaf\"}", code: "bad_text", has: []string{`"name"`}},
	{name: "encoded surrogate", in: "{\"name\":\"\xed\xa0\x80\"}", code: "bad_text", has: []string{`"name"`}},
	{name: "lone high surrogate", in: `{"name":"\ud800"}`, code: "bad_text", has: []string{`"name"`}, not: []string{"ud800"}},
	{name: "lone low surrogate", in: `{"name":"x\udc00y"}`, code: "bad_text", has: []string{`"name"`}},
	{name: "reversed pair", in: `{"name":"\udc00\ud800"}`, code: "bad_text"},
	{name: "invalid UTF-8 in an array", in: "{\"tags\":[\"ok\",\"\xff\"]}", code: "bad_text", has: []string{`"tags.1"`}},
	{name: "invalid UTF-8 in a name", in: "{\"na\xffme\":1}", code: "bad_text"},
	{name: "valid pair", in: `{"name":"\ud83d\ude00"}`},
	{name: "valid multibyte", in: `{"name":"zoë 日本"}`},

	{name: "byte order mark", in: "\xef\xbb\xbf{}", code: "malformed_json"},
	{name: "byte order mark before blanks", in: "\xef\xbb\xbf {\"count\":1}", code: "malformed_json"},
	{name: "no-break space is not JSON space", in: "\u00a0{}", code: "bad_request"},

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
		"the request body must be a JSON object":                                true,
		"the request body has data after its JSON object":                       true,
		"the request body is not valid JSON":                                    true,
		"the request body is not valid JSON (at byte N)":                        true,
		"the request body is not valid JSON (it ends early)":                    true,
		"the request body is not valid JSON (it starts with a byte order mark)": true,
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
			// Accepted: valid JSON, valid UTF-8 (escapes included: the
			// standard decoder would turn a lone surrogate into U+FFFD),
			// and decoding it again with encoding/json gives the same
			// value, which it would not if a name were given twice or in
			// another case.
			trimmed := bytes.Trim(raw, " \t\r\n")
			if len(trimmed) == 0 {
				return
			}
			if !json.Valid(trimmed) || !utf8.Valid(trimmed) || bytes.HasPrefix(trimmed, []byte("\xef\xbb\xbf")) {
				t.Fatalf("DecodeParams accepted invalid JSON or text %q", raw)
			}
			var generic any
			if err := json.Unmarshal(trimmed, &generic); err != nil {
				t.Fatalf("encoding/json refuses what DecodeParams accepted: %q: %v", raw, err)
			}
			again, _ := json.Marshal(generic)
			if strings.Contains(string(again), "\ufffd") && !strings.Contains(string(trimmed), "\ufffd") && !strings.Contains(strings.ToLower(string(trimmed)), `\ufffd`) {
				t.Fatalf("DecodeParams accepted text that encoding/json alters: %q", raw)
			}
			if m, ok := generic.(map[string]any); ok {
				for k := range m {
					if !knownNames[k] {
						t.Fatalf("DecodeParams accepted unknown name %q in %q", k, raw)
					}
				}
			}
			if dups(t, trimmed) {
				t.Fatalf("DecodeParams accepted a name given twice: %q", raw)
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
		case "duplicate_param":
			if !strings.HasPrefix(de.Message, "parameter ") || !strings.HasSuffix(de.Message, " is given twice") {
				t.Fatalf("message %q", de.Message)
			}
		case "bad_text":
			if !strings.Contains(de.Message, "not valid UTF-8") {
				t.Fatalf("message %q", de.Message)
			}
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

// knownNames are testParams' top-level names.
var knownNames = map[string]bool{"name": true, "count": true, "ratio": true, "flag": true, "tags": true, "opt": true}

// dups reports whether any object in the valid JSON text b has a name twice,
// walking it with encoding/json's tokenizer (which allows duplicates).
func dups(t *testing.T, b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		obj   bool
		names map[string]bool
		key   bool // the next string token is a name
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				if top != nil && top.obj {
					top.key = true
				}
				stack = append(stack, &frame{obj: true, names: map[string]bool{}, key: true})
			case '[':
				if top != nil && top.obj {
					top.key = true
				}
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.obj && top.key {
				if top.names[v] {
					return true
				}
				top.names[v] = true
				top.key = false
				continue
			}
			if top != nil && top.obj {
				top.key = true
			}
		default:
			if top != nil && top.obj {
				top.key = true
			}
		}
	}
}
