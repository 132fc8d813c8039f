package dbapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// DecodeParams decodes a request's JSON object into v, strictly: unknown
// fields, wrong types and trailing data are errors. Every error is an
// EINVALID *Error whose message names the offending parameter, and none
// echoes more of the input than that name. An empty body counts as {}.
func DecodeParams(raw []byte, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	if raw[0] != '{' {
		return CodeErrorf(EINVALID, "bad_request", "the request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return paramError(err)
	}
	// Anything but a clean end of input is trailing data, including a
	// stray ']' or '}' (which Token reports as an error, not a token).
	if _, err := dec.Token(); err != io.EOF {
		return CodeErrorf(EINVALID, "malformed_json", "the request body has data after its JSON object")
	}
	return nil
}

func paramError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &syn):
		return CodeErrorf(EINVALID, "malformed_json", "the request body is not valid JSON (at byte %d)", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return CodeErrorf(EINVALID, "bad_request", "the request body must be a JSON object")
		}
		// typ.Value is "number 1e400" for numbers: keep only the kind, so
		// the message never echoes the value.
		got, _, _ := strings.Cut(typ.Value, " ")
		return CodeErrorf(EINVALID, "bad_param", "parameter %q: want %s, got JSON %s", typ.Field, jsonKind(typ.Type.Kind().String()), got)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return CodeErrorf(EINVALID, "malformed_json", "the request body is not valid JSON (it ends early)")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return CodeErrorf(EINVALID, "unknown_param", "unknown parameter %s", name)
	}
	return CodeErrorf(EINVALID, "malformed_json", "the request body is not valid JSON")
}

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"):
		return "an integer"
	case strings.HasPrefix(goKind, "float"):
		return "a number"
	case goKind == "string":
		return "a string"
	case goKind == "bool":
		return "true or false"
	case goKind == "slice", goKind == "array":
		return "an array"
	}
	return "an object"
}

// Required returns an EINVALID error naming a missing parameter.
func Required(name, what string) *Error {
	return CodeErrorf(EINVALID, "missing_param", "parameter %q is required (%s)", name, what)
}
