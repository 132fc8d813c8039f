package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dbapi-dev/dbapi"
	"github.com/shopspring/decimal"
)

// FuzzParse feeds the parser arbitrary files. It must not panic, must
// report errors as *Error, and what it accepts must be consistent: every
// statement has SQL, every parameter used is declared and every declared
// one used, and no statement has a placeholder outside quotes and comments
// that is not in its parameter list.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/good", "testdata/bad"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.sql"))
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	f.Add([]byte(everythingSQL))
	f.Add([]byte(lendFile))
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := Parse("f.sql", src)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "f.sql:") {
				t.Fatalf("error %v is not an *Error naming the file", err)
			}
			return
		}
		if d.Name == "" || d.Result == "" || len(d.Statements) == 0 {
			t.Fatalf("accepted a definition without name, result or SQL: %+v", d)
		}
		used := map[string]bool{}
		for _, st := range d.Statements {
			if strings.TrimSpace(st.SQL) == "" || st.Line < 1 {
				t.Fatalf("empty statement or bad line: %+v", st)
			}
			if n := countPlaceholders(st.SQL); n != len(st.Params) {
				t.Fatalf("statement %q has %d placeholders and %d parameters", st.SQL, n, len(st.Params))
			}
			for _, name := range st.Params {
				if d.param(name) == nil {
					t.Fatalf("parameter %q is used but not declared", name)
				}
				used[name] = true
			}
		}
		for _, p := range d.Params {
			if !used[p.Name] {
				t.Fatalf("parameter %q is declared but not used", p.Name)
			}
		}
		// Domain errors: a status of the three, a code of the form, one
		// status per code, each :name declared.
		status := map[string]int{}
		for _, f := range d.Failures() {
			if failureStatuses[f.Status] != f.Kind || f.Kind == "" || !codeRE.MatchString(f.Code) || f.Message == "" {
				t.Fatalf("accepted a bad domain error %+v", f)
			}
			if s, ok := status[f.Code]; ok && s != f.Status {
				t.Fatalf("code %s with statuses %d and %d", f.Code, s, f.Status)
			}
			status[f.Code] = f.Status
			for _, m := range notFoundRefRE.FindAllStringSubmatch(f.Message, -1) {
				if d.param(m[1]) == nil {
					t.Fatalf("message %q names undeclared :%s", f.Message, m[1])
				}
			}
		}
		if err := d.Operation(Config{}).Validate(); err != nil {
			t.Fatalf("accepted a file whose operation does not validate: %v", err)
		}
	})
}

// countPlaceholders counts the '?' outside quotes and comments.
func countPlaceholders(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'' || c == '"' || c == '`':
			end, _, ok := scanQuoted(s, i)
			if !ok {
				return -1
			}
			i = end - 1
		case c == '#' || (c == '-' && strings.HasPrefix(s[i:], "--") && (i+2 == len(s) || s[i+2] <= ' ')):
			i = lineEnd(s, i)
		case c == '/' && strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return -1
			}
			i += 2 + end + 1
		case c == '?':
			n++
		}
	}
	return n
}

// FuzzDecodeParams feeds request bodies (outside input) to the parameter
// decoder. It must not panic; errors must be EINVALID; what it accepts
// must give every declared parameter a value of its type, within bounds.
func FuzzDecodeParams(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"i":1,"s":"abc"}`, `{"i":"5","s":"😀"}`, `{"i":1,"s":"abc","i":2}`,
		`{"i":1,"s":"","d":"-12.5","b":true,"t":"2024-02-29T13:34:56.1+01:00","day":"2024-02-29","raw":"AAEC/w==","doc":{"a":[1]},"note":"x","big":"18446744073709551615"}`,
		`{"i":1e400}`, `{"i":-0}`, `[1]`, `{"\u0000":1}`, `{"i":1,"s":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	d := everything(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		vals, err := d.DecodeParams(body)
		if err != nil {
			var de *dbapi.Error
			if !errors.As(err, &de) || de.Kind != dbapi.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		for name, v := range vals {
			if s, ok := v.(string); ok && (!utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) && !bytes.Contains(body, []byte("\uFFFD")) && !bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`))) {
				t.Fatalf("%q: text %q was altered from %q", name, s, body)
			}
		}
		for _, p := range d.Params {
			v, ok := vals[p.Name]
			if !ok {
				t.Fatalf("no value for %q", p.Name)
			}
			if v == nil {
				if !p.Nullable {
					t.Fatalf("NULL for non-nullable %q", p.Name)
				}
				continue
			}
			switch p.Kind {
			case KindInt:
				var dec decimal.Decimal
				switch v := v.(type) {
				case int64:
					dec = decimal.NewFromInt(v)
				case uint64:
					dec = decimal.RequireFromString(strings.TrimSpace(strings.TrimPrefix(decimal.NewFromUint64(v).String(), "+")))
				default:
					t.Fatalf("%q: %T", p.Name, v)
				}
				if (p.Min != nil && dec.LessThan(*p.Min)) || (p.Max != nil && dec.GreaterThan(*p.Max)) {
					t.Fatalf("%q = %s is out of bounds", p.Name, dec)
				}
			case KindDecimal, KindString, KindDate, KindJSON:
				s, ok := v.(string)
				if !ok {
					t.Fatalf("%q: %T", p.Name, v)
				}
				if p.Kind == KindString && p.Size > 0 && len([]rune(s)) > p.Size {
					t.Fatalf("%q is too long", p.Name)
				}
			case KindBool:
				if _, ok := v.(bool); !ok {
					t.Fatalf("%q: %T", p.Name, v)
				}
			case KindTime:
				if tm, ok := v.(time.Time); !ok || tm.Location() != time.UTC {
					t.Fatalf("%q: %#v", p.Name, v)
				}
			case KindBytes:
				if b, ok := v.([]byte); !ok || (p.Size > 0 && len(b) > p.Size) {
					t.Fatalf("%q: %#v", p.Name, v)
				}
			}
		}
	})
}

// pairSQL declares, for FuzzSameDecision, the parameters of pairParams.
const pairSQL = `-- name: test.pair
-- param: name string nullable
-- param: flag bool nullable
-- param: doc json nullable
-- result: one
SELECT :name, :flag, :doc
`

// pairParams are a Go operation's parameters with the same names and
// types as pairSQL's.
type pairParams struct {
	Name *string         `json:"name"`
	Flag *bool           `json:"flag"`
	Doc  json.RawMessage `json:"doc"`
}

// FuzzSameDecision checks that a Go operation (dbapi.DecodeParams) and a
// declared operation with the same parameters accept and refuse the same
// bodies: duplicates, names in another case, unknown names, invalid UTF-8,
// lone surrogates, a byte order mark, trailing data, wrong types.
func FuzzSameDecision(f *testing.F) {
	for _, s := range []string{
		``, ` `, `{}`, `{"name":"ann"}`, `{"name":null,"flag":true,"doc":{"a":[1,"x"]}}`,
		`{"name":"a","name":"b"}`, `{"NAME":"a"}`, `{"Name":"a"}`, `{"nam\u0065":"a"}`, `{"extra":1}`,
		"{\"name\":\"a\xff\xfeb\"}", `{"name":"\ud800"}`, `{"name":"\ud83d\ude00"}`, "\xef\xbb\xbf{}",
		`{"doc":{"x":1,"x":2}}`, `{"flag":1}`, `{"name":5}`, `{} {}`, `{"name":"a"`, `[]`, `null`, "\u00a0{}",
		`{"doc":"\udc00"}`, `{"flag":true,"flag":true}`,
	} {
		f.Add([]byte(s))
	}
	d, err := Parse("pair.sql", []byte(pairSQL))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p pairParams
		goErr := dbapi.DecodeParams(body, &p)
		_, sqlErr := d.DecodeParams(body)
		if (goErr == nil) != (sqlErr == nil) {
			t.Fatalf("body %q: Go operation says %v, declared operation says %v", body, goErr, sqlErr)
		}
		for _, err := range []error{goErr, sqlErr} {
			var de *dbapi.Error
			if err != nil && (!errors.As(err, &de) || de.Kind != dbapi.EINVALID) {
				t.Fatalf("body %q: error %v is not EINVALID", body, err)
			}
		}
	})
}

// decodeParamsReference is DecodeParams as it was written first, on
// encoding/json's Decoder: the new one, which walks the object itself, must
// give the same values and the same errors.
func decodeParamsReference(d *Definition, body []byte) (map[string]any, error) {
	if err := dbapi.CheckBody(body); err != nil {
		return nil, err
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	if body[0] != '{' {
		return nil, dbapi.CodeErrorf(dbapi.EINVALID, "bad_request", "the request body must be a JSON object")
	}
	if !json.Valid(body) {
		return nil, dbapi.CodeErrorf(dbapi.EINVALID, "malformed_json", "the request body is not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, dbapi.CodeErrorf(dbapi.EINVALID, "malformed_json", "the request body is not valid JSON")
	}
	vals := make(map[string]any, len(d.Params))
	seen := make(map[string]bool, len(d.Params))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, dbapi.CodeErrorf(dbapi.EINVALID, "malformed_json", "the request body is not valid JSON")
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, dbapi.CodeErrorf(dbapi.EINVALID, "malformed_json", "the request body is not valid JSON")
		}
		p := d.param(name)
		if p == nil {
			return nil, dbapi.CodeErrorf(dbapi.EINVALID, "unknown_param", "unknown parameter %q", dbapi.Shorten(name))
		}
		if seen[name] {
			return nil, dbapi.CodeErrorf(dbapi.EINVALID, "duplicate_param", "parameter %q is given twice", name)
		}
		seen[name] = true
		if vals[name], err = p.decode(raw); err != nil {
			return nil, err
		}
	}
	for i := range d.Params {
		p := &d.Params[i]
		if seen[p.Name] {
			continue
		}
		switch {
		case p.Default != nil:
			vals[p.Name] = p.def
		case p.Nullable:
			vals[p.Name] = nil
		default:
			return nil, dbapi.Required(p.Name, p.want())
		}
	}
	return vals, nil
}

func FuzzDecodeParamsSameAsReference(f *testing.F) {
	for _, s := range []string{
		``, ` `, `{}`, ` { } `, `{"i":1,"s":"abc"}`, `{"i":"5","s":"😀"}`, `{"i":1,"s":"abc","i":2}`,
		`{"i":1,"s":"","d":"-12.5","b":true,"t":"2024-02-29T13:34:56.1+01:00","day":"2024-02-29","raw":"AAEC/w==","doc":{"a":[1,{"b":"}]"}]},"note":"x","big":"18446744073709551615"}`,
		`{"i":1e400}`, `{"i":-0}`, `[1]`, `{"\u0000":1}`, `{"i":1,"s":"\ud800"}`, `{"\u0069":1,"s":"x"}`, `{"i" : 1 , "s" : "a\"b\\" }`,
		"{\"i\":1,\"s\":\"x\",\"\xff\":1}", `{"doc":[],"i":1,"s":"x"}`, `{"doc":"[{\"x\":1}]","i":1,"s":"x"}`, `{"i":null,"s":null}`, `{"i":1}x`,
	} {
		f.Add([]byte(s))
	}
	d := everything(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		got, gotErr := d.DecodeParams(body)
		want, wantErr := decodeParamsReference(d, body)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("%q: error %v, want %v", body, gotErr, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: values %#v, want %#v", body, got, want)
		}
	})
}

// BenchmarkDecodeParams compares DecodeParams with the Decoder-based
// reference on the body of an accounts.get-like request.
func BenchmarkDecodeParams(b *testing.B) {
	d, err := Parse("get.sql", []byte("-- name: t.get\n-- param: id int min=1\n-- result: one\nSELECT :id AS id"))
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"id":123}`)
	b.Run("walk", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := d.DecodeParams(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decoder", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := decodeParamsReference(d, body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
