package catalog

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/invopop/jsonschema"
	"github.com/shopspring/decimal"
)

// ParamsSchema returns the JSON Schema of the request body d accepts: one
// property per declared parameter, required unless it has a default or is
// nullable, no other properties. It accepts exactly the bodies
// DecodeParams accepts, but for what no JSON Schema can say (see
// README.md, "Declared operations"): how a number is written (1.0 and 1e2
// are integers to a schema; an int parameter takes neither), a name given
// twice, text that is not valid UTF-8 or holds a lone surrogate, and an
// empty body (which counts as {}).
func (d *Definition) ParamsSchema() json.RawMessage {
	s := &jsonschema.Schema{
		Type:                 "object",
		Properties:           jsonschema.NewProperties(),
		AdditionalProperties: jsonschema.FalseSchema,
	}
	for i := range d.Params {
		p := &d.Params[i]
		s.Properties.Set(p.Name, p.schema())
		if p.Default == nil && !p.Nullable {
			s.Required = append(s.Required, p.Name)
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("catalog: schema of %s: %v", d.Name, err)) // plain values always encode
	}
	return b
}

// The values an int parameter can hold: int64 and uint64 together.
var (
	intLowest  = decimal.RequireFromString("-9223372036854775808")
	intHighest = decimal.RequireFromString("18446744073709551615")
)

// Patterns of the text forms.
const (
	// base64Pattern is standard base64 with padding, canonical (the
	// unused bits of the last character zero), as DecodeParams reads it.
	base64Pattern = `^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$`
	// timePattern is RFC 3339 as DecodeParams reads it: upper-case T and
	// Z, a point before the fraction, no leap second; the format
	// date-time checks the calendar.
	timePattern = `^[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$`
)

// schema returns the JSON Schema of one parameter's value.
func (p *Param) schema() *jsonschema.Schema {
	s := &jsonschema.Schema{}
	var notes []string
	switch p.Kind {
	case KindInt:
		// A JSON integer, or a string of digits (as rowjson writes integers
		// beyond 2^53), within the bounds and 64 bits.
		lo, hi := intLowest, intHighest
		if p.Min != nil && p.Min.GreaterThan(lo) {
			lo = *p.Min
		}
		if p.Max != nil && p.Max.LessThan(hi) {
			hi = *p.Max
		}
		n := &jsonschema.Schema{Type: "integer", Minimum: json.Number(lo.String()), Maximum: json.Number(hi.String())}
		str := &jsonschema.Schema{Type: "string", Pattern: intRE.String(),
			AllOf: []*jsonschema.Schema{{Pattern: atLeastPattern(lo)}, {Pattern: atMostPattern(hi)}}}
		s.AnyOf = []*jsonschema.Schema{n, str}
		notes = append(notes, fmt.Sprintf("from %s to %s, as a JSON integer or a string of digits", lo, hi))
	case KindDecimal:
		s.Type, s.Pattern = "string", decimalRE.String()
		if p.Precision > 0 {
			s.AllOf = append(s.AllOf, &jsonschema.Schema{Pattern: digitsPattern(p.Precision-p.Scale, p.Scale)})
			notes = append(notes, fmt.Sprintf("decimal(%d,%d): at most %d digits before the point and %d after", p.Precision, p.Scale, p.Precision-p.Scale, p.Scale))
		}
		if p.Min != nil {
			s.AllOf = append(s.AllOf, &jsonschema.Schema{Pattern: atLeastPattern(*p.Min)})
			notes = append(notes, "at least "+p.Min.String())
		}
		if p.Max != nil {
			s.AllOf = append(s.AllOf, &jsonschema.Schema{Pattern: atMostPattern(*p.Max)})
			notes = append(notes, "at most "+p.Max.String())
		}
	case KindString:
		s.Type = "string"
		if p.Size > 0 {
			n := uint64(p.Size)
			s.MaxLength = &n
		}
	case KindBool:
		s.Type = "boolean"
	case KindTime:
		s.Type, s.Format, s.Pattern = "string", "date-time", timePattern
	case KindDate:
		s.Type, s.Format, s.Pattern = "string", "date", dateRE.String()
	case KindBytes:
		s.Type, s.ContentEncoding, s.Pattern = "string", "base64", base64Pattern
		if p.Size > 0 {
			// At most Size bytes: at most 4 characters per 3 bytes, and
			// at the longest, a last group of no more bytes than fit.
			q, r := p.Size/3, p.Size%3
			longest := uint64(4 * (q + min(r, 1)))
			s.MaxLength = &longest
			if r > 0 {
				end := map[int]string{1: "==$", 2: "=$"}[r]
				s.If = &jsonschema.Schema{MinLength: &longest}
				s.Then = &jsonschema.Schema{Pattern: end}
			}
			notes = append(notes, fmt.Sprintf("at most %d bytes once decoded", p.Size))
		}
	case KindJSON:
		if !p.Nullable {
			s.Not = &jsonschema.Schema{Type: "null"}
		}
	}
	notes = append([]string{fmt.Sprintf("%s: %s", p.Kind, p.want())}, notes...)
	if p.Nullable && p.Kind != KindJSON {
		s = &jsonschema.Schema{AnyOf: []*jsonschema.Schema{s, {Type: "null"}}}
	}
	s.Description = strings.Join(notes, "; ")
	if p.Default != nil {
		s.Default = p.Default
	}
	return s
}
