package catalog

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dbapi-dev/dbapi"
	"github.com/shopspring/decimal"
)

// Kind is a parameter type.
type Kind string

// Parameter types.
const (
	KindInt     Kind = "int"
	KindDecimal Kind = "decimal"
	KindString  Kind = "string"
	KindBool    Kind = "bool"
	KindTime    Kind = "time"
	KindDate    Kind = "date"
	KindBytes   Kind = "bytes"
	KindJSON    Kind = "json"
)

// Param is a declared parameter.
type Param struct {
	Name string
	Kind Kind
	// Size is the most characters of a string(n) or bytes of a bytes(n);
	// zero means no limit.
	Size int
	// Precision and Scale of a decimal(p,s); zero Precision means any.
	Precision, Scale int
	Nullable         bool
	// Default is the JSON text of the default value; nil means none.
	Default json.RawMessage
	// Min and Max bound an int or decimal, inclusive; nil means no bound.
	Min, Max *decimal.Decimal
	// Line is where the parameter is declared.
	Line int

	def any // Default, decoded
}

// The syntax of int, decimal and date parameters. The JSON Schemas show
// the regular expressions; requests are checked by isInt, isDecimal and
// isDate, which match exactly the same strings without a regexp engine on
// every request (TestMatchersAgreeWithRegexps).
var (
	intRE     = regexp.MustCompile(`^-?[0-9]+$`)
	decimalRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)
	dateRE    = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

// digits reports whether s is one or more ASCII digits.
func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isInt matches intRE.
func isInt(s string) bool { return digits(strings.TrimPrefix(s, "-")) }

// isDecimal matches decimalRE.
func isDecimal(s string) bool {
	whole, frac, dot := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	return digits(whole) && (!dot || digits(frac))
}

// isDate matches dateRE.
func isDate(s string) bool {
	return len(s) == 10 && digits(s[0:4]) && s[4] == '-' && digits(s[5:7]) && s[7] == '-' && digits(s[8:10])
}

// twoDigits reports whether s is two digits at most max.
func twoDigits(s, max string) bool { return len(s) == 2 && digits(s) && s <= max }

// isTime matches timePattern: RFC 3339 with an upper-case T and Z, a
// point before the fraction, hours, minutes and seconds in range (no leap
// second) and an offset in range. time.Parse alone takes more (a comma
// before the fraction, a one-digit hour, an offset of +24:00).
func isTime(s string) bool {
	if len(s) < 20 || !isDate(s[:10]) || s[10] != 'T' || !twoDigits(s[11:13], "23") || s[13] != ':' ||
		!twoDigits(s[14:16], "59") || s[16] != ':' || !twoDigits(s[17:19], "59") {
		return false
	}
	rest := s[19:]
	if rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 1 {
			return false
		}
		rest = rest[i:]
	}
	if rest == "Z" {
		return true
	}
	return len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && twoDigits(rest[1:3], "23") && rest[3] == ':' && twoDigits(rest[4:6], "59")
}

func badParam(name, format string, args ...any) *dbapi.Error {
	return dbapi.CodeErrorf(dbapi.EINVALID, "bad_param", "parameter %q: %s", name, fmt.Sprintf(format, args...))
}

// want describes what the parameter accepts, for messages.
func (p *Param) want() string {
	switch p.Kind {
	case KindInt:
		return "an integer"
	case KindDecimal:
		return `a decimal string such as "2.50"`
	case KindString:
		return "a string"
	case KindBool:
		return "true or false"
	case KindTime:
		return `an RFC 3339 time string such as "2006-01-02T15:04:05Z"`
	case KindDate:
		return `a date string such as "2006-01-02"`
	case KindBytes:
		return "a base64 string"
	}
	return "a JSON value"
}

// decode checks a request value (JSON text, not empty) and returns what
// to bind: nil for NULL, else int64, uint64, string, bool, time.Time or
// []byte. Errors are EINVALID and name the parameter, not the value.
func (p *Param) decode(raw json.RawMessage) (any, error) {
	if string(raw) == "null" {
		if p.Nullable {
			return nil, nil
		}
		return nil, badParam(p.Name, "must not be null (want %s)", p.want())
	}
	var s string
	isString := raw[0] == '"'
	if isString {
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, badParam(p.Name, "want %s", p.want())
		}
	}
	switch p.Kind {
	case KindInt:
		text := string(raw)
		if isString {
			text = s
		}
		if !isInt(text) {
			return nil, badParam(p.Name, "want %s", p.want())
		}
		var v any
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			v = i
		} else if u, err := strconv.ParseUint(text, 10, 64); err == nil {
			v = u
		} else {
			return nil, badParam(p.Name, "out of range for a 64-bit integer")
		}
		if err := p.checkRange(text); err != nil {
			return nil, err
		}
		return v, nil
	case KindDecimal:
		if !isString || !isDecimal(s) {
			return nil, badParam(p.Name, "want %s", p.want())
		}
		if p.Precision > 0 {
			whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
			if len(frac) > p.Scale {
				return nil, badParam(p.Name, "at most %d decimal places", p.Scale)
			}
			if len(strings.TrimLeft(whole, "0")) > p.Precision-p.Scale {
				return nil, badParam(p.Name, "at most %d digits before the decimal point", p.Precision-p.Scale)
			}
		}
		if err := p.checkRange(s); err != nil {
			return nil, err
		}
		return s, nil
	case KindString:
		if !isString {
			return nil, badParam(p.Name, "want %s", p.want())
		}
		if p.Size > 0 && utf8.RuneCountInString(s) > p.Size {
			return nil, badParam(p.Name, "at most %d characters", p.Size)
		}
		return s, nil
	case KindBool:
		switch string(raw) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, badParam(p.Name, "want %s", p.want())
	case KindTime:
		if !isString || !isTime(s) {
			return nil, badParam(p.Name, "want %s", p.want())
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, badParam(p.Name, "want %s", p.want())
		}
		return t.UTC(), nil
	case KindDate:
		if !isString || !isDate(s) {
			return nil, badParam(p.Name, "want %s", p.want())
		}
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return nil, badParam(p.Name, "not a valid date")
		}
		return s, nil
	case KindBytes:
		if !isString {
			return nil, badParam(p.Name, "want %s", p.want())
		}
		// (The decoder skips line breaks; standard base64 has none.)
		b, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil || strings.ContainsAny(s, "\r\n") {
			return nil, badParam(p.Name, "want %s (standard alphabet, padded)", p.want())
		}
		if p.Size > 0 && len(b) > p.Size {
			return nil, badParam(p.Name, "at most %d bytes", p.Size)
		}
		return b, nil
	case KindJSON:
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, badParam(p.Name, "want %s", p.want())
		}
		return buf.String(), nil
	}
	return nil, fmt.Errorf("catalog: parameter %q has unknown kind %q", p.Name, p.Kind)
}

// checkRange checks a decimal or integer text against Min and Max.
func (p *Param) checkRange(text string) error {
	if p.Min == nil && p.Max == nil {
		return nil
	}
	d, err := decimal.NewFromString(text)
	if err != nil {
		return badParam(p.Name, "want %s", p.want())
	}
	if p.Min != nil && d.LessThan(*p.Min) {
		return badParam(p.Name, "must be at least %s", p.Min)
	}
	if p.Max != nil && d.GreaterThan(*p.Max) {
		return badParam(p.Name, "must be at most %s", p.Max)
	}
	return nil
}

// DecodeParams checks a request body (a JSON object, or empty for {})
// strictly, as dbapi.DecodeParams does for Go operations (names are
// case-sensitive; a name twice, an unknown name, invalid UTF-8 or a lone
// surrogate is refused), against the declared parameters and returns the value to bind for each,
// by name: defaults filled in, NULL as nil. Every error is an EINVALID
// *dbapi.Error naming the offending field.
func (d *Definition) DecodeParams(body []byte) (map[string]any, error) {
	// The same checks as a Go operation's dbapi.DecodeParams: one object,
	// valid UTF-8 without lone surrogates, no name twice in any object, no
	// byte order mark. Past them, the walk below alters nothing.
	if err := dbapi.CheckBody(body); err != nil {
		return nil, err
	}
	body = bytes.Trim(body, " \t\r\n")
	if len(body) == 0 {
		body = []byte("{}")
	}
	vals := make(map[string]any, len(d.Params))
	seen := make([]bool, len(d.Params))
	// CheckBody made sure body is one valid JSON object: walk its members
	// without a decoder.
	for rawName, value, rest := nextMember(body[1:]); rawName != nil; rawName, value, rest = nextMember(rest) {
		name, err := memberName(rawName)
		if err != nil {
			return nil, dbapi.CodeErrorf(dbapi.EINVALID, "malformed_json", "the request body is not valid JSON")
		}
		i := d.paramIndex(name)
		if i < 0 {
			return nil, dbapi.CodeErrorf(dbapi.EINVALID, "unknown_param", "unknown parameter %q", dbapi.Shorten(name))
		}
		if seen[i] {
			return nil, dbapi.CodeErrorf(dbapi.EINVALID, "duplicate_param", "parameter %q is given twice", name)
		}
		seen[i] = true
		if vals[name], err = d.Params[i].decode(value); err != nil {
			return nil, err
		}
	}
	for i := range d.Params {
		p := &d.Params[i]
		if seen[i] {
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

// nextMember returns the next member of a valid JSON object whose opening
// brace has been consumed: its name as a raw JSON string, its raw value,
// and what follows; a nil name at the end of the object.
func nextMember(b []byte) (rawName, value, rest []byte) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '"' {
		return nil, nil, nil // '}'
	}
	end := stringEnd(b, i)
	rawName = b[i:end]
	i = skipSpace(b, end)
	i = skipSpace(b, i+1) // ':'
	start := i
	switch b[i] {
	case '"':
		i = stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			if depth == 0 {
				i++
				break
			}
		}
	default: // number, true, false, null
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\r' && b[i] != '\n' {
			i++
		}
	}
	value = b[start:i]
	i = skipSpace(b, i)
	if i < len(b) && b[i] == ',' {
		i++
	}
	return rawName, value, b[i:]
}

// stringEnd returns the index after the JSON string that starts at b[i].
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// memberName decodes a member's raw JSON name; a plain ASCII one without
// escapes (every parameter name) is taken as it is.
func memberName(raw []byte) (string, error) {
	plain := true
	for _, c := range raw[1 : len(raw)-1] {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(raw[1 : len(raw)-1]), nil
	}
	var name string
	err := json.Unmarshal(raw, &name)
	return name, err
}

// paramIndex returns the index of the parameter named name, or -1.
func (d *Definition) paramIndex(name string) int {
	for i := range d.Params {
		if d.Params[i].Name == name {
			return i
		}
	}
	return -1
}

func (d *Definition) param(name string) *Param {
	for i := range d.Params {
		if d.Params[i].Name == name {
			return &d.Params[i]
		}
	}
	return nil
}
