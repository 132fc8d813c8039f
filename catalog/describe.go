package catalog

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/invopop/jsonschema"
)

// ParamsSchema returns the JSON Schema of the request body d accepts: one
// property per declared parameter, required unless it has a default or is
// nullable, no other properties. What a schema cannot say (the range of a
// decimal, the digits of decimal(p,s)) is in the property's description.
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

// schema returns the JSON Schema of one parameter's value.
func (p *Param) schema() *jsonschema.Schema {
	s := &jsonschema.Schema{}
	var notes []string
	switch p.Kind {
	case KindInt:
		// An integer, or a string of digits (as rowjson writes integers
		// beyond 2^53).
		n := &jsonschema.Schema{Type: "integer"}
		if p.Min != nil {
			n.Minimum = json.Number(p.Min.String())
		}
		if p.Max != nil {
			n.Maximum = json.Number(p.Max.String())
		}
		s.AnyOf = []*jsonschema.Schema{n, {Type: "string", Pattern: intRE.String()}}
	case KindDecimal:
		s.Type, s.Pattern = "string", decimalRE.String()
		if p.Precision > 0 {
			notes = append(notes, fmt.Sprintf("decimal(%d,%d): at most %d digits before the point and %d after", p.Precision, p.Scale, p.Precision-p.Scale, p.Scale))
		}
		if p.Min != nil {
			notes = append(notes, "at least "+p.Min.String())
		}
		if p.Max != nil {
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
		s.Type, s.Format = "string", "date-time"
	case KindDate:
		s.Type, s.Format = "string", "date"
	case KindBytes:
		s.Type, s.ContentEncoding = "string", "base64"
		if p.Size > 0 {
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
