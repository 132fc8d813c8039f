package catalog

import (
	"database/sql"
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

// Result is what an operation returns.
type Result string

// Results.
const (
	ResultOne  Result = "one"
	ResultMany Result = "many"
	ResultExec Result = "exec"
)

// Definition is a parsed operation file.
type Definition struct {
	File string
	// Line is the line of the "-- name:" header.
	Line        int
	Name        string
	Description string
	Params      []Param
	Result      Result
	Isolation   sql.IsolationLevel
	ReadOnly    bool
	// Coalesce lets requests that wait at the same time share one
	// transaction (dbapi.Operation.Coalesce).
	Coalesce bool
	Timeout  time.Duration
	// MaxRows overrides Config.MaxRows for a many result; zero means
	// the Config's.
	MaxRows int
	// JSON names the text columns to embed as JSON (rowjson.Options.JSON).
	JSON []string
	// NotFound is the message of the not_found error of a one result, or
	// of an exec result whose last statement changed no row (only when the
	// file declares "not-found"); each :name in it is replaced by the
	// request's value of parameter name.
	NotFound string
	// NotFoundIfNoRows is set for an exec result with a "not-found" line:
	// a last statement that affects no row is then a 404 not_found and
	// the transaction rolls back.
	NotFoundIfNoRows bool
	// Errors map named constraints to errors of the operation's own
	// ("-- error:" lines), in the order of the file.
	Errors     []ConstraintError
	Statements []Statement
	// Columns describes the result's columns as the database reports
	// them, once ReadColumns found them; nil until then.
	Columns *Columns
}

// Error is a problem in an operation file. Its text is "file:line: reason".
type Error struct {
	File string
	Line int // 0 when the problem is the whole file
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// directiveRE matches a header directive: "-- key: value".
var directiveRE = regexp.MustCompile(`^--[ \t]*([a-z][a-z-]*):[ \t]*(.*?)[ \t\r]*$`)

// keys are the header directives; the value says whether it may repeat.
var keys = map[string]bool{
	"name": false, "description": true, "param": true, "result": false, "isolation": false,
	"read-only": false, "timeout": false, "max-rows": false, "json": false, "not-found": false,
	"coalesce": false, "error": true, "rows": false,
}

// directive reports whether a comment line is a known header directive.
func directive(line string) (string, bool) {
	m := directiveRE.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	_, ok := keys[m[1]]
	return m[1], ok
}

var isolations = map[string]sql.IsolationLevel{
	"read uncommitted": sql.LevelReadUncommitted,
	"read committed":   sql.LevelReadCommitted,
	"repeatable read":  sql.LevelRepeatableRead,
	"serializable":     sql.LevelSerializable,
}

var (
	columnRE      = regexp.MustCompile(`^[^\x00-\x1f,]+$`)
	notFoundRefRE = regexp.MustCompile(`:([A-Za-z_][A-Za-z0-9_]*)`)
)

// Parse parses one operation file. Errors are *Error values.
func Parse(file string, src []byte) (*Definition, error) {
	d, err := parse(file, src)
	if err != nil {
		if le, ok := err.(*lineError); ok {
			return nil, &Error{File: file, Line: le.line, Msg: le.msg}
		}
		return nil, &Error{File: file, Msg: err.Error()}
	}
	return d, nil
}

func parse(file string, src []byte) (*Definition, error) {
	if !utf8.Valid(src) {
		return nil, fmt.Errorf("the file is not UTF-8")
	}
	text := strings.TrimPrefix(string(src), "\uFEFF")
	d := &Definition{File: file}
	seen := map[string]int{}
	lines := strings.SplitAfter(text, "\n")
	body := len(lines) // index of the first line of SQL
	for i, l := range lines {
		n := i + 1
		trimmed := strings.TrimSpace(l)
		if trimmed == "" {
			continue
		}
		if !strings.HasPrefix(trimmed, "--") {
			body = i
			break
		}
		m := directiveRE.FindStringSubmatch(trimmed)
		if m == nil {
			continue // free comment
		}
		key, value := m[1], m[2]
		repeats, known := keys[key]
		if !known {
			return nil, errAt(n, "unknown header key %q (want one of name, description, param, result, isolation, read-only, timeout, max-rows, json, not-found, coalesce, error; or rows, directly above a statement)", key)
		}
		if key == "rows" {
			// The rule of the first statement, directly above it: the
			// SQL begins here.
			body = i
			break
		}
		if prev, dup := seen[key]; dup && !repeats {
			return nil, errAt(n, "%q is given twice (first at line %d)", key, prev)
		}
		seen[key] = n
		if err := d.directive(n, key, value); err != nil {
			return nil, err
		}
	}
	if d.Name == "" {
		return nil, errAt(1, "missing header line \"-- name: <operation name>\"")
	}
	if d.Result == "" {
		return nil, errAt(1, "missing header line \"-- result: one|many|exec\"")
	}
	if l, ok := seen["max-rows"]; ok && d.Result != ResultMany {
		return nil, errAt(l, "max-rows applies only to \"result: many\"")
	}
	if l, ok := seen["json"]; ok && d.Result == ResultExec {
		return nil, errAt(l, "json applies only to results with rows (one, many)")
	}
	if l, ok := seen["not-found"]; ok && d.Result == ResultMany {
		return nil, errAt(l, "not-found applies only to \"result: one\" and \"result: exec\"")
	} else if ok && d.Result == ResultExec {
		d.NotFoundIfNoRows = true
	}
	if d.NotFound == "" {
		d.NotFound = "no row matches the parameters"
	}
	if err := d.checkRefs(seen["not-found"], "not-found", d.NotFound); err != nil {
		return nil, err
	}
	mapped := map[string]int{}
	for _, e := range d.Errors {
		if err := d.checkRefs(e.Line, "error", e.Message); err != nil {
			return nil, err
		}
		if prev, dup := mapped[strings.ToLower(e.Constraint)]; dup {
			return nil, errAt(e.Line, "error: constraint %q is mapped twice (first at line %d)", e.Constraint, prev)
		}
		mapped[strings.ToLower(e.Constraint)] = e.Line
	}

	sqlText := strings.Join(lines[body:], "")
	stmts, uses, err := splitSQL(sqlText, body+1)
	if err != nil {
		return nil, err
	}
	if len(stmts) == 0 {
		return nil, errAt(len(lines), "no SQL statement after the header")
	}
	d.Statements = stmts
	if err := d.checkRowCounts(seen["not-found"]); err != nil {
		return nil, err
	}
	if err := d.checkCodes(); err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, u := range uses {
		if d.param(u.name) == nil {
			return nil, errAt(u.line, "parameter :%s is not declared (add \"-- param: %s <type>\")", u.name, u.name)
		}
		used[u.name] = true
	}
	for _, p := range d.Params {
		if !used[p.Name] {
			return nil, errAt(p.Line, "parameter %q is declared but the SQL does not use it", p.Name)
		}
	}
	return d, nil
}

// directive applies one header line.
func (d *Definition) directive(line int, key, value string) error {
	if value == "" {
		return errAt(line, "%q has no value", key)
	}
	switch key {
	case "name":
		if err := (dbapi.Operation{Name: value, Run: noop}).Validate(); err != nil {
			return errAt(line, "%v", err)
		}
		d.Line = line
		d.Name = value
	case "description":
		if d.Description != "" {
			d.Description += " "
		}
		d.Description += value
	case "param":
		p, err := parseParam(value)
		if err != nil {
			return errAt(line, "param: %v", err)
		}
		if d.param(p.Name) != nil {
			return errAt(line, "parameter %q is declared twice", p.Name)
		}
		p.Line = line
		d.Params = append(d.Params, *p)
	case "result":
		switch r := Result(value); r {
		case ResultOne, ResultMany, ResultExec:
			d.Result = r
		default:
			return errAt(line, "result %q: want one, many or exec", value)
		}
	case "isolation":
		lvl, ok := isolations[strings.Join(strings.Fields(strings.ToLower(value)), " ")]
		if !ok {
			return errAt(line, "isolation %q: want read uncommitted, read committed, repeatable read or serializable", value)
		}
		d.Isolation = lvl
	case "read-only":
		b, err := parseBool(line, key, value)
		if err != nil {
			return err
		}
		d.ReadOnly = b
	case "coalesce":
		b, err := parseBool(line, key, value)
		if err != nil {
			return err
		}
		d.Coalesce = b
	case "timeout":
		t, err := time.ParseDuration(value)
		if err != nil || t <= 0 {
			return errAt(line, "timeout %q: want a positive duration such as \"2s\"", value)
		}
		d.Timeout = t
	case "max-rows":
		n, err := strconv.Atoi(value)
		if err != nil || n <= 0 {
			return errAt(line, "max-rows %q: want a positive integer", value)
		}
		d.MaxRows = n
	case "json":
		for _, c := range strings.Split(value, ",") {
			c = strings.TrimSpace(c)
			if !columnRE.MatchString(c) {
				return errAt(line, "json: want comma-separated column names")
			}
			d.JSON = append(d.JSON, c)
		}
	case "not-found":
		d.NotFound = value
	case "error":
		e, err := parseConstraintError(line, value)
		if err != nil {
			return errAt(line, "error: %v", err)
		}
		d.Errors = append(d.Errors, e)
	}
	return nil
}

// checkRowCounts checks the "-- rows:" lines against the statements and
// the result: their messages name declared parameters, and the last
// statement's rule fits the result (notFoundLine is the "-- not-found:"
// line, or 0).
func (d *Definition) checkRowCounts(notFoundLine int) error {
	for i, st := range d.Statements {
		r := st.Rows
		if r == nil {
			continue
		}
		if err := d.checkRefs(r.Else.Line, "rows", r.Else.Message); err != nil {
			return err
		}
		if i < len(d.Statements)-1 {
			continue
		}
		if notFoundLine > 0 {
			return errAt(r.Else.Line, "the last statement has a \"-- rows:\" line and the file a \"-- not-found:\" line (line %d): keep one", notFoundLine)
		}
		if d.Result == ResultOne && (r.AtLeast || r.N != 1) {
			return errAt(r.Else.Line, "rows %s: a \"result: one\" returns exactly one row, so the last statement's rule can only be \"-- rows: 1 else ...\" (the error for no row or several)", r)
		}
		if d.Result != ResultExec && !returnsRows(st) {
			return errAt(r.Else.Line, "rows: the last statement of a \"result: %s\" must be a SELECT to count the rows it returns", d.Result)
		}
	}
	return nil
}

// checkCodes refuses one code with two statuses: a client switches on the
// code alone.
func (d *Definition) checkCodes() error {
	byCode := map[string]Failure{}
	check := func(f Failure) error {
		if prev, ok := byCode[f.Code]; ok && prev.Status != f.Status {
			return errAt(f.Line, "code %s has status %d here and %d at line %d: one code, one status", f.Code, f.Status, prev.Status, prev.Line)
		} else if !ok {
			byCode[f.Code] = f
		}
		return nil
	}
	for _, e := range d.Errors {
		if err := check(e.Failure); err != nil {
			return err
		}
	}
	for _, st := range d.Statements {
		if st.Rows != nil {
			if err := check(st.Rows.Else); err != nil {
				return err
			}
		}
	}
	return nil
}

func parseBool(line int, key, value string) (bool, error) {
	switch value {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errAt(line, "%s %q: want true or false", key, value)
}

var (
	paramNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	paramTypeRE = regexp.MustCompile(`^([a-z]+)(?:\(([0-9]+)(?:,([0-9]+))?\))?$`)
)

// parseParam parses "<name> <type> [nullable] [default=<JSON>] [min=<n>] [max=<n>]".
func parseParam(s string) (*Param, error) {
	fields, err := splitFields(s)
	if err != nil {
		return nil, err
	}
	if len(fields) < 2 {
		return nil, fmt.Errorf("want \"<name> <type> [nullable] [default=<JSON>] [min=<n>] [max=<n>]\"")
	}
	p := &Param{Name: fields[0]}
	if !paramNameRE.MatchString(p.Name) {
		return nil, fmt.Errorf("name %q: want letters, digits and '_', not starting with a digit", p.Name)
	}
	if err := p.parseType(fields[1]); err != nil {
		return nil, err
	}
	var defText string
	for _, f := range fields[2:] {
		key, val, hasVal := strings.Cut(f, "=")
		switch {
		case f == "nullable":
			if p.Nullable {
				return nil, fmt.Errorf("nullable is given twice")
			}
			p.Nullable = true
		case hasVal && key == "default":
			if p.Default != nil {
				return nil, fmt.Errorf("default is given twice")
			}
			if !json.Valid([]byte(val)) {
				return nil, fmt.Errorf("default %s: want a JSON value (strings in double quotes)", val)
			}
			p.Default, defText = json.RawMessage(val), val
		case hasVal && (key == "min" || key == "max"):
			if p.Kind != KindInt && p.Kind != KindDecimal {
				return nil, fmt.Errorf("%s applies only to int and decimal parameters", key)
			}
			if !decimalRE.MatchString(val) || (p.Kind == KindInt && !intRE.MatchString(val)) {
				return nil, fmt.Errorf("%s=%s: want %s", key, val, map[Kind]string{KindInt: "an integer", KindDecimal: "a decimal number"}[p.Kind])
			}
			v := decimal.RequireFromString(val)
			bound := &p.Min
			if key == "max" {
				bound = &p.Max
			}
			if *bound != nil {
				return nil, fmt.Errorf("%s is given twice", key)
			}
			*bound = &v
		default:
			return nil, fmt.Errorf("%q: want nullable, default=<JSON>, min=<n> or max=<n>", f)
		}
	}
	if p.Min != nil && p.Max != nil && p.Min.GreaterThan(*p.Max) {
		return nil, fmt.Errorf("min %s is above max %s", p.Min, p.Max)
	}
	if p.Default != nil {
		def, err := p.decode(p.Default)
		if err != nil {
			msg := err.Error()
			if de, ok := err.(*dbapi.Error); ok {
				msg = de.Message
			}
			return nil, fmt.Errorf("default %s does not fit: %s", defText, msg)
		}
		p.def = def
	}
	return p, nil
}

// parseType parses "int", "string(255)", "decimal(20,2)" and the like.
func (p *Param) parseType(s string) error {
	m := paramTypeRE.FindStringSubmatch(s)
	if m == nil {
		return fmt.Errorf("type %q: want int, decimal, decimal(p,s), string, string(n), bool, time, date, bytes, bytes(n) or json", s)
	}
	p.Kind = Kind(m[1])
	hasSize, hasScale := m[2] != "", m[3] != ""
	// The pattern allows only digits; a size too long for an int fails Atoi.
	size, err1 := strconv.Atoi(m[2])
	scale, err2 := strconv.Atoi(m[3])
	switch p.Kind {
	case KindInt, KindBool, KindTime, KindDate, KindJSON:
		if hasSize {
			return fmt.Errorf("type %q: %s takes no size", s, p.Kind)
		}
	case KindString, KindBytes:
		if hasScale {
			return fmt.Errorf("type %q: %s takes one size, the maximum length", s, p.Kind)
		}
		if hasSize {
			if err1 != nil || size == 0 {
				return fmt.Errorf("type %q: the size must be a positive integer", s)
			}
			p.Size = size
		}
	case KindDecimal:
		if hasSize != hasScale {
			return fmt.Errorf("type %q: want decimal or decimal(precision,scale)", s)
		}
		if hasSize {
			if err1 != nil || err2 != nil || size < 1 || size > 65 || scale > 30 || scale > size {
				return fmt.Errorf("type %q: want 1 <= precision <= 65 and 0 <= scale <= 30, scale <= precision", s)
			}
			p.Precision, p.Scale = size, scale
		}
	default:
		return fmt.Errorf("type %q: want int, decimal, decimal(p,s), string, string(n), bool, time, date, bytes, bytes(n) or json", s)
	}
	return nil
}

// splitFields splits s on spaces, keeping a double-quoted JSON string
// (after "default=") in one field.
func splitFields(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != '\t' {
			if s[j] == '"' {
				k := j + 1
				for ; k < len(s) && s[k] != '"'; k++ {
					if s[k] == '\\' {
						k++
					}
				}
				if k >= len(s) {
					return nil, fmt.Errorf("unterminated string")
				}
				j = k
			}
			j++
		}
		out = append(out, s[i:j])
		i = j
	}
	return out, nil
}
