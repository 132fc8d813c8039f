package batch

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/dbapi-dev/dbapi"
	"github.com/dbapi-dev/dbapi/protocol"
	"github.com/dbapi-dev/dbapi/txrunner"
	"github.com/jmoiron/sqlx"
)

// Name is the reserved operation name of a batch: <prefix>.batch.
const Name = protocol.BatchOperation

// Description describes the batch endpoint.
const Description = "Several operations in one transaction: all commit or none."

// ParamsSchema is the JSON Schema of a batch's body (protocol.BatchRequest).
// A string parameter "$alias.path" is replaced by that value of the result
// of the earlier step named alias; "$$" stands for a literal "$".
var ParamsSchema = json.RawMessage(`{"type":"object","properties":{"ops":{"type":"array","minItems":1,` +
	`"description":"the steps, run in order in one transaction; at most DBAPI_MAX_BATCH of them",` +
	`"items":{"type":"object","properties":{` +
	`"op":{"type":"string","description":"the operation's name, such as accounts.transfer"},` +
	`"params":{"type":["object","null"],"description":"the operation's parameters; a string \"$alias.path\" is replaced by that value of an earlier step's result, and \"$$\" starts a literal \"$\""},` +
	`"as":{"type":"string","pattern":"^(` + aliasPattern[1:len(aliasPattern)-1] + `)?$","description":"a name for this step's result, for later steps' references"}},` +
	`"required":["op"],"additionalProperties":false}}},"required":["ops"],"additionalProperties":false}`)

// ResultSchema is the JSON Schema of a batch's reply.
var ResultSchema = json.RawMessage(`{"type":"object","properties":{"results":{"type":"array",` +
	`"description":"each step's result, in order"}},"required":["results"],"additionalProperties":false}`)

// DefaultMaxSteps is the default cap on the steps of one batch.
const DefaultMaxSteps = 100

// plan is a checked batch, ready to run in one transaction.
type plan struct {
	steps []plannedStep
}

type plannedStep struct {
	op     *dbapi.Operation
	as     string
	params any // decoded params when they hold references, else nil
	raw    []byte
	refs   bool // params hold references to earlier results
}

// StepError is the failure of one step of a batch. The batch returns it
// wrapped in a *dbapi.Error of the step's own kind, code and message, so
// the reply status is the step's; find it with errors.As.
type StepError struct {
	Index int    // the step's position in "ops", from 0
	Op    string // the step's operation
	Err   error  // what the step returned
}

func (e *StepError) Error() string {
	return fmt.Sprintf("step %d (%s): %v", e.Index, e.Op, e.Err)
}

// Unwrap returns the step's error.
func (e *StepError) Unwrap() error { return e.Err }

// stepFailed wraps err, the failure of step i, so that it keeps the
// step's kind, code and message and carries the step.
func stepFailed(i int, op string, err error) error {
	de := dbapi.AsError(txrunner.Classify(err))
	return &dbapi.Error{Kind: de.Kind, Code: de.Code, Message: de.Message, Err: &StepError{Index: i, Op: op, Err: err}}
}

const aliasPattern = `^[A-Za-z_][A-Za-z0-9_]*$`

var aliasRE = regexp.MustCompile(aliasPattern)

// Plan decodes and checks a batch before anything runs (every operation
// exists, aliases are unique, every reference names an earlier step) and
// returns it as one operation named Name: read-only if every step is,
// with the strictest isolation and the shortest timeout of its steps.
// Its Run ignores its params (the batch is already decoded) and runs the
// steps in order; a failed step is a *StepError inside the *dbapi.Error it
// returns.
func Plan(reg *dbapi.Registry, data []byte, maxSteps int) (dbapi.Operation, error) {
	p, op, err := planSteps(reg, data, maxSteps)
	if err != nil {
		return dbapi.Operation{}, err
	}
	op.Name = Name
	op.Run = func(ctx context.Context, tx *sqlx.Tx, _ json.RawMessage) (any, error) { return p.run(ctx, tx) }
	return op, nil
}

func planSteps(reg *dbapi.Registry, data []byte, maxSteps int) (*plan, dbapi.Operation, error) {
	none := dbapi.Operation{}
	var req protocol.BatchRequest
	if err := dbapi.DecodeParams(data, &req); err != nil {
		return nil, none, err
	}
	if len(req.Ops) == 0 {
		return nil, none, dbapi.Required("ops", "a non-empty array of steps")
	}
	if len(req.Ops) > maxSteps {
		return nil, none, dbapi.CodeErrorf(dbapi.ETOOLARGE, "batch_too_large", "the batch has %d steps; the limit is %d", len(req.Ops), maxSteps)
	}
	p := &plan{}
	step := dbapi.Operation{ReadOnly: true}
	seen := map[string]bool{}
	for i, st := range req.Ops {
		stepErr := func(code, format string, args ...any) error {
			return dbapi.CodeErrorf(dbapi.EINVALID, code, "step %d (%s): %s", i, st.Op, fmt.Sprintf(format, args...))
		}
		sop, ok := reg.Lookup(st.Op)
		if !ok {
			return nil, none, dbapi.CodeErrorf(dbapi.ENOTFOUND, "unknown_operation", "step %d: unknown operation %q", i, st.Op)
		}
		ps := plannedStep{op: &sop, as: st.As, raw: st.Params}
		if st.As != "" {
			if !aliasRE.MatchString(st.As) {
				return nil, none, stepErr("bad_alias", `"as" must be a name of letters, digits and '_'`)
			}
			if seen[st.As] {
				return nil, none, stepErr("bad_alias", "alias %q is used twice", st.As)
			}
		}
		if len(bytes.TrimSpace(st.Params)) == 0 || string(bytes.TrimSpace(st.Params)) == "null" {
			ps.raw = []byte("{}")
		}
		if bytes.Contains(ps.raw, []byte(`"$`)) {
			dec := json.NewDecoder(bytes.NewReader(ps.raw))
			dec.UseNumber()
			if err := dec.Decode(&ps.params); err != nil {
				return nil, none, stepErr("malformed_json", "params are not valid JSON")
			}
			var bad error
			walkRefs(ps.params, func(r ref) {
				if bad == nil && !seen[r.alias] {
					bad = dbapi.CodeErrorf(dbapi.EINVALID, "unresolvable_reference",
						"step %d (%s): reference %q names no earlier step", i, st.Op, r.text)
				}
			})
			if bad != nil {
				return nil, none, bad
			}
			ps.refs = true
		}
		if st.As != "" {
			seen[st.As] = true
		}
		step.ReadOnly = step.ReadOnly && sop.ReadOnly
		step.Isolation = stricter(step.Isolation, sop.Isolation, i == 0)
		if sop.Timeout > 0 && (step.Timeout == 0 || sop.Timeout < step.Timeout) {
			step.Timeout = sop.Timeout
		}
		p.steps = append(p.steps, ps)
	}
	return p, step, nil
}

// stricter returns the isolation level for a transaction that runs steps
// wanting a and b. The server default counts as REPEATABLE READ (InnoDB's).
func stricter(a, b sql.IsolationLevel, first bool) sql.IsolationLevel {
	if first || a == b {
		return b
	}
	level := func(l sql.IsolationLevel) sql.IsolationLevel {
		if l == sql.LevelDefault {
			return sql.LevelRepeatableRead
		}
		return l
	}
	return max(level(a), level(b))
}

// ref is a parsed reference: "$alias.path.to.value".
type ref struct {
	text  string
	alias string
	path  []string
}

// parseRef reads a string value: "$a.id" is a reference, "$$x" is the
// literal string "$x", anything else is not a reference.
func parseRef(s string) (ref, bool) {
	if !strings.HasPrefix(s, "$") || strings.HasPrefix(s, "$$") {
		return ref{}, false
	}
	parts := strings.Split(s[1:], ".")
	return ref{text: s, alias: parts[0], path: parts[1:]}, true
}

// walkRefs calls f for every reference in v.
func walkRefs(v any, f func(ref)) {
	switch t := v.(type) {
	case string:
		if r, ok := parseRef(t); ok {
			f(r)
		}
	case []any:
		for _, e := range t {
			walkRefs(e, f)
		}
	case map[string]any:
		for _, e := range t {
			walkRefs(e, f)
		}
	}
}

// substitute returns v with every reference replaced by the value it
// names, and "$$" escapes undone.
func substitute(v any, results map[string]any) (any, error) {
	switch t := v.(type) {
	case string:
		if strings.HasPrefix(t, "$$") {
			return t[1:], nil
		}
		if r, ok := parseRef(t); ok {
			return resolve(r, results)
		}
		return t, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			var err error
			if out[i], err = substitute(e, results); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			var err error
			if out[k], err = substitute(e, results); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}

func resolve(r ref, results map[string]any) (any, error) {
	v := results[r.alias]
	for _, key := range r.path {
		switch t := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = t[key]; !ok {
				return nil, dbapi.CodeErrorf(dbapi.EINVALID, "unresolvable_reference", "reference %q: the result has no field %q", r.text, key)
			}
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(t) {
				return nil, dbapi.CodeErrorf(dbapi.EINVALID, "unresolvable_reference", "reference %q: no element %q", r.text, key)
			}
			v = t[i]
		default:
			return nil, dbapi.CodeErrorf(dbapi.EINVALID, "unresolvable_reference", "reference %q: cannot look up %q in a non-object", r.text, key)
		}
	}
	return v, nil
}

// run executes every step in order in tx and returns {"results":[...]}.
func (p *plan) run(ctx context.Context, tx *sqlx.Tx) (any, error) {
	results := make([]json.RawMessage, len(p.steps))
	aliases := map[string]any{}
	for i, st := range p.steps {
		res, err := p.runStep(ctx, tx, st, aliases)
		if err != nil {
			return nil, stepFailed(i, st.op.Name, err)
		}
		results[i] = res
		if st.as != "" {
			var v any
			dec := json.NewDecoder(bytes.NewReader(res))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				return nil, stepFailed(i, st.op.Name, err)
			}
			aliases[st.as] = v
		}
	}
	return protocol.BatchResult{Results: results}, nil
}

func (p *plan) runStep(ctx context.Context, tx *sqlx.Tx, st plannedStep, aliases map[string]any) (json.RawMessage, error) {
	params := st.raw
	if st.refs {
		v, err := substitute(st.params, aliases)
		if err != nil {
			return nil, err
		}
		if params, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	res, err := st.op.Run(ctx, tx, params)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(res)
	if err != nil {
		return nil, &dbapi.Error{Kind: dbapi.EINTERNAL, Message: "internal error", Err: fmt.Errorf("encode result: %w", err)}
	}
	return out, nil
}
