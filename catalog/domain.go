package catalog

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/dbapi-dev/dbapi/txrunner"
)

// Failure is an error of the operation's own, in the words of its domain:
// a status of the error table, a code and a message.
type Failure struct {
	// Line is where the file declares it.
	Line int
	// Status is 400, 404 or 409; Kind is its dbapi kind (EINVALID,
	// ENOTFOUND, ECONFLICT), which decides the retryable flag (never
	// retryable, for these three).
	Status int
	Kind   string
	// Code is lower_snake_case, such as "no_copies_left".
	Code string
	// Message is what the client reads; each :name in it is replaced by
	// the request's value of parameter name.
	Message string
}

// ConstraintError maps a named constraint to a Failure: the header line
// "-- error: <constraint> <status> <code> <message>".
type ConstraintError struct {
	// Constraint is the name of a CHECK constraint, a UNIQUE (or PRIMARY)
	// key or a FOREIGN KEY, as information_schema lists it.
	Constraint string
	Failure
}

// RowCount is a statement's rule on the rows it changes (a write) or
// returns (a read): the line "-- rows: <n> else <status> <code> <message>"
// directly above the statement, or ">=<n>" for at least n.
type RowCount struct {
	N       int64
	AtLeast bool
	Else    Failure
}

// String returns the rule as written: "1" or ">=1".
func (r *RowCount) String() string {
	if r.AtLeast {
		return ">=" + strconv.FormatInt(r.N, 10)
	}
	return strconv.FormatInt(r.N, 10)
}

// holds reports whether n rows keep the rule.
func (r *RowCount) holds(n int64) bool {
	if r.AtLeast {
		return n >= r.N
	}
	return n == r.N
}

// failureStatuses are the statuses an operation's own error may have: the
// error table's kinds that say something about the request and the data.
// 413 (a limit of the service), 503, 504 and 500 (the service or the
// database failed) are the service's own: a domain rule never means them,
// and 503 and 504 would tell clients to retry.
var failureStatuses = map[int]string{
	400: dbapi.EINVALID,
	404: dbapi.ENOTFOUND,
	409: dbapi.ECONFLICT,
}

var (
	codeRE       = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	constraintRE = regexp.MustCompile("^[^\\s`'\".]+$")
	rowsRE       = regexp.MustCompile(`^(>=)?([0-9]+)$`)
)

// parseFailure parses "<status> <code> <message>".
func parseFailure(line int, s string) (Failure, error) {
	f := Failure{Line: line}
	status, rest, _ := strings.Cut(strings.TrimSpace(s), " ")
	code, msg, _ := strings.Cut(strings.TrimSpace(rest), " ")
	msg = strings.TrimSpace(msg)
	n, err := strconv.Atoi(status)
	if err != nil {
		return f, fmt.Errorf("want <status> <code> <message>, such as 409 no_copies_left no copies left of book :id")
	}
	kind, ok := failureStatuses[n]
	if !ok {
		return f, fmt.Errorf("status %d: want 400 (invalid), 404 (not_found) or 409 (conflict); 413 and the 5xx statuses are the service's own (limits, availability, failures)", n)
	}
	if !codeRE.MatchString(code) {
		return f, fmt.Errorf("code %q: want lower_snake_case, such as no_copies_left", code)
	}
	if row, listed := tableCode(code); listed && (row.Status != n || row.Retryable) {
		return f, fmt.Errorf("code %q is the error table's own, with status %d%s: use it with that status, or choose a code of your own", code, row.Status, map[bool]string{true: " and retryable"}[row.Retryable])
	}
	if msg == "" {
		return f, fmt.Errorf("no message after the code %s", code)
	}
	f.Status, f.Kind, f.Code, f.Message = n, kind, code, msg
	return f, nil
}

// tableCode returns the error table's row for code, if it lists it.
func tableCode(code string) (protocol.Code, bool) {
	for _, c := range protocol.Codes() {
		if c.Code == code {
			return c, true
		}
	}
	return protocol.Code{}, false
}

// parseConstraintError parses the value of an "-- error:" line:
// "<constraint> <status> <code> <message>". A constraint name with spaces
// or other odd characters is written in backquotes.
func parseConstraintError(line int, s string) (ConstraintError, error) {
	var name, rest string
	if strings.HasPrefix(s, "`") {
		end := strings.Index(s[1:], "`")
		if end < 1 {
			return ConstraintError{}, fmt.Errorf("unterminated `constraint name`")
		}
		name, rest = s[1:1+end], s[2+end:]
	} else {
		name, rest, _ = strings.Cut(s, " ")
		if !constraintRE.MatchString(name) {
			return ConstraintError{}, fmt.Errorf("constraint name %q: write a name with spaces, dots or quotes in backquotes", name)
		}
	}
	f, err := parseFailure(line, rest)
	if err != nil {
		return ConstraintError{}, fmt.Errorf("%s: %v", name, err)
	}
	return ConstraintError{Constraint: name, Failure: f}, nil
}

// parseRowCount parses the value of a "-- rows:" line: "<n> else <status>
// <code> <message>" or ">=<n> else ...".
func parseRowCount(line int, s string) (*RowCount, error) {
	count, rest, _ := strings.Cut(s, " ")
	m := rowsRE.FindStringSubmatch(count)
	els, rest, _ := strings.Cut(strings.TrimSpace(rest), " ")
	if m == nil || els != "else" {
		return nil, fmt.Errorf("want \"-- rows: <n> else <status> <code> <message>\" or \"-- rows: >=<n> else ...\"")
	}
	n, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("rows %s: too large", m[2])
	}
	f, err := parseFailure(line, rest)
	if err != nil {
		return nil, err
	}
	return &RowCount{N: n, AtLeast: m[1] != "", Else: f}, nil
}

// checkRefs checks that every :name in a message is a declared parameter.
func (d *Definition) checkRefs(line int, what, msg string) error {
	for _, m := range notFoundRefRE.FindAllStringSubmatch(msg, -1) {
		if d.param(m[1]) == nil {
			return errAt(line, "%s: parameter :%s is not declared", what, m[1])
		}
	}
	return nil
}

// Failures returns every error of the operation's own that the file
// declares, in the order of the file: its "-- error:" lines, then its
// "-- rows:" lines, one per code (the first of several that share one).
func (d *Definition) Failures() []Failure {
	var out []Failure
	seen := map[string]bool{}
	add := func(f Failure) {
		if !seen[f.Code] {
			seen[f.Code] = true
			out = append(out, f)
		}
	}
	for _, e := range d.Errors {
		add(e.Failure)
	}
	for _, st := range d.Statements {
		if st.Rows != nil {
			add(st.Rows.Else)
		}
	}
	return out
}

// operationErrors returns the codes the operation may answer with for
// dbapi.Operation.Errors.
func (d *Definition) operationErrors() []dbapi.OperationError {
	fs := d.Failures()
	if len(fs) == 0 {
		return nil
	}
	out := make([]dbapi.OperationError, len(fs))
	for i, f := range fs {
		out[i] = dbapi.OperationError{Kind: f.Kind, Code: f.Code, Message: f.Message}
	}
	return out
}

// failure returns f as the *dbapi.Error a request gets, its message
// filled in from the request's values; cause, when not nil, is kept for
// the logs.
func (d *Definition) failure(f *Failure, vals map[string]any, cause error) error {
	return &dbapi.Error{Kind: f.Kind, Code: f.Code, Message: expand(f.Message, vals), Err: cause}
}

// mapConstraint returns the operation's own error for a statement error
// that names a constraint the file maps with "-- error:", or nil.
func (d *Definition) mapConstraint(err error, vals map[string]any) error {
	if len(d.Errors) == 0 {
		return nil
	}
	_, name, ok := txrunner.Constraint(err)
	if !ok {
		return nil
	}
	for i := range d.Errors {
		if strings.EqualFold(d.Errors[i].Constraint, name) {
			return d.failure(&d.Errors[i].Failure, vals, err)
		}
	}
	return nil
}

// expand replaces each :name in msg by the request's value of parameter
// name: strings cut to 64 bytes, bytes as base64 (cut too), times in RFC
// 3339, NULL as "null". Only the values the author names in the message
// are shown, and they came from the request itself.
func expand(msg string, vals map[string]any) string {
	if !strings.Contains(msg, ":") {
		return msg
	}
	return notFoundRefRE.ReplaceAllStringFunc(msg, func(ref string) string {
		switch v := vals[ref[1:]].(type) {
		case nil:
			return "null"
		case string:
			return dbapi.Shorten(v)
		case []byte:
			return dbapi.Shorten(base64.StdEncoding.EncodeToString(v))
		case time.Time:
			return v.Format(time.RFC3339Nano)
		default:
			return fmt.Sprint(v)
		}
	})
}
