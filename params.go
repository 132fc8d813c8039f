package dbapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// DecodeParams decodes a request's JSON object into v, strictly, with the
// json/v2 design (github.com/go-json-experiment/json): names match their
// fields exactly (case-sensitive), a name given twice in any object is an
// error (duplicate_param), so are unknown names (unknown_param), text that
// is not valid UTF-8 or holds a lone surrogate (bad_text: never replaced
// by U+FFFD), wrong types (bad_param), a byte order mark and trailing data
// (malformed_json). Every error is an EINVALID *Error whose message names
// the offending parameter, and none echoes more of the input than that
// name. An empty body counts as {}.
func DecodeParams(raw []byte, v any) error {
	if err := checkObject(raw); err != nil {
		return err
	}
	if len(trimJSONSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	if err := json.Unmarshal(raw, v, json.RejectUnknownMembers(true)); err != nil {
		return ParamError(err)
	}
	return nil
}

// trimJSONSpace trims the white space JSON allows (and no other).
func trimJSONSpace(b []byte) []byte { return bytes.Trim(b, " \t\r\n") }

// checkObject refuses a body that starts with a byte order mark or is not
// a JSON object (an empty body is {}).
func checkObject(raw []byte) error {
	if bytes.HasPrefix(raw, []byte("\xef\xbb\xbf")) {
		return CodeErrorf(EINVALID, "malformed_json", "the request body is not valid JSON (it starts with a byte order mark)")
	}
	if t := trimJSONSpace(raw); len(t) > 0 && t[0] != '{' {
		return CodeErrorf(EINVALID, "bad_request", "the request body must be a JSON object")
	}
	return nil
}

// CheckBody checks a request body the way DecodeParams does before it
// decodes: one JSON object (or nothing), valid UTF-8 without lone
// surrogates, no name twice in any object, no byte order mark, nothing
// after the object. Decoders that walk the object themselves (declared
// operations) call it first, so they reach the same decision.
func CheckBody(raw []byte) error {
	if err := checkObject(raw); err != nil {
		return err
	}
	if len(trimJSONSpace(raw)) == 0 {
		return nil
	}
	var v jsontext.Value
	if err := json.Unmarshal(raw, &v); err != nil {
		return ParamError(err)
	}
	return nil
}

// ParamError turns an error of github.com/go-json-experiment/json (or
// jsontext) from decoding a request body into an EINVALID *Error naming
// the parameter. A *Error inside (from an UnmarshalJSON method) comes back
// as it is.
func ParamError(err error) error {
	var e *Error
	var syn *jsontext.SyntacticError
	var sem *json.SemanticError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &syn):
		name := paramName(syn.JSONPointer)
		switch {
		case errors.Is(syn.Err, jsontext.ErrDuplicateName):
			return CodeErrorf(EINVALID, "duplicate_param", "parameter %q is given twice", name)
		case isBadText(syn.Err):
			if name == "" {
				return CodeErrorf(EINVALID, "bad_text", "the request body holds text that is not valid UTF-8")
			}
			return CodeErrorf(EINVALID, "bad_text", "parameter %q: text that is not valid UTF-8 (or a lone surrogate)", name)
		case errors.Is(syn.Err, io.ErrUnexpectedEOF), errors.Is(err, io.ErrUnexpectedEOF):
			return CodeErrorf(EINVALID, "malformed_json", "the request body is not valid JSON (it ends early)")
		case strings.Contains(syn.Err.Error(), "after top-level value"):
			return CodeErrorf(EINVALID, "malformed_json", "the request body has data after its JSON object")
		}
		return CodeErrorf(EINVALID, "malformed_json", "the request body is not valid JSON (at byte %d)", syn.ByteOffset)
	case errors.As(err, &sem):
		name := paramName(sem.JSONPointer)
		switch {
		case errors.Is(sem.Err, json.ErrUnknownName):
			return CodeErrorf(EINVALID, "unknown_param", "unknown parameter %q", name)
		case name == "":
			return CodeErrorf(EINVALID, "bad_request", "the request body must be a JSON object")
		}
		return CodeErrorf(EINVALID, "bad_param", "parameter %q: want %s, got JSON %s", name, goKind(sem.GoType), jsonKind(sem.JSONKind))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return CodeErrorf(EINVALID, "malformed_json", "the request body is not valid JSON (it ends early)")
	}
	return CodeErrorf(EINVALID, "malformed_json", "the request body is not valid JSON")
}

// isBadText reports whether a syntactic error is about text: invalid
// UTF-8 or an escaped surrogate without its pair. jsontext exports no
// sentinel for these.
func isBadText(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "invalid UTF-8") || strings.Contains(msg, "surrogate")
}

// MaxInMessage caps how much of a name or value an error message
// repeats.
const MaxInMessage = 64

// Shorten cuts s to MaxInMessage bytes, on a character boundary, marking
// the cut with "…": what an error message repeats of a name or a value
// stays short whatever the request held.
func Shorten(s string) string {
	if len(s) <= MaxInMessage {
		return s
	}
	cut := MaxInMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// paramName turns a JSON pointer ("/opt/on") into the dotted name used in
// messages ("opt.on"), cut to a bounded length on a character boundary.
func paramName(p jsontext.Pointer) string {
	var toks []string
	for tok := range p.Tokens() {
		toks = append(toks, tok)
	}
	return Shorten(strings.Join(toks, "."))
}

func jsonKind(k jsontext.Kind) string {
	switch k {
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "bool"
	case '[':
		return "array"
	case '{':
		return "object"
	case 'n':
		return "null"
	}
	return "value"
}

func goKind(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return fmt.Sprintf("a %s", t.Kind())
}

// Required returns an EINVALID error naming a missing parameter.
func Required(name, what string) *Error {
	return CodeErrorf(EINVALID, "missing_param", "parameter %q is required (%s)", name, what)
}
