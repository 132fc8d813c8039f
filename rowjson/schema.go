package rowjson

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
)

// intRanges are the values integer types hold, as JSON Schema bounds.
var intRanges = map[string][2]int64{
	"TINYINT": {-128, 127}, "UNSIGNED TINYINT": {0, 255},
	"SMALLINT": {-32768, 32767}, "UNSIGNED SMALLINT": {0, 65535},
	"MEDIUMINT": {-8388608, 8388607}, "UNSIGNED MEDIUMINT": {0, 16777215},
	"INT": {-2147483648, 2147483647}, "UNSIGNED INT": {0, 4294967295},
	"YEAR": {0, 2155},
}

// RowSchema returns the JSON Schema of one row (a JSON object) that Rows
// and One write for a result with these columns: one required property
// per column, by name, no others. Each column's schema follows the type
// table of the package documentation; a column the server marks NOT NULL
// is never null, except DATE, DATETIME and TIMESTAMP columns (a zero date
// is written as null). jsonCols are the text columns to embed as JSON, as
// in Options.JSON. The error is the one Rows would return for such a
// result (two columns with one name, a type the encoder does not know).
func RowSchema(types []*sql.ColumnType, jsonCols []string) (json.RawMessage, error) {
	if len(types) == 0 {
		return nil, fmt.Errorf("rowjson: the statement returns no result set")
	}
	p, err := newPlan(types, jsonCols)
	if err != nil {
		return nil, err
	}
	type property struct {
		name   string
		schema map[string]any
	}
	props := make([]property, len(types))
	required := make([]string, len(types))
	for i, ct := range types {
		nullable, known := ct.Nullable()
		s := columnSchema(&p.cols[i], ct)
		if !known || nullable || p.cols[i].kind == kindDate || p.cols[i].kind == kindDateTime {
			s = orNull(s)
		}
		props[i] = property{ct.Name(), s}
		required[i] = ct.Name()
	}
	// Properties in the result's column order.
	var b strings.Builder
	b.WriteString(`{"type":"object","properties":{`)
	for i, pr := range props {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(pr.name)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(pr.schema)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	req, err := json.Marshal(required)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(&b, `},"required":%s,"additionalProperties":false}`, req)
	return json.RawMessage(b.String()), nil
}

// columnSchema returns the JSON Schema of a column's non-NULL values.
func columnSchema(c *column, ct *sql.ColumnType) map[string]any {
	desc := c.dbType
	_, scale, hasScale := ct.DecimalSize()
	var s map[string]any
	switch c.kind {
	case kindNull:
		return map[string]any{"type": "null", "description": "NULL"}
	case kindInt:
		if r, ok := intRanges[c.dbType]; ok {
			s = map[string]any{"type": "integer", "minimum": r[0], "maximum": r[1]}
			break
		}
		// BIGINT: a number when |v| <= 2^53, else a string of digits.
		pattern, min := "^-?[0-9]+$", int64(-maxExact)
		if strings.HasPrefix(c.dbType, "UNSIGNED") {
			pattern, min = "^[0-9]+$", 0
		}
		s = map[string]any{"anyOf": []any{
			map[string]any{"type": "integer", "minimum": min, "maximum": int64(maxExact)},
			map[string]any{"type": "string", "pattern": pattern},
		}}
		desc += "; beyond 2^53 a string of digits"
	case kindBit:
		s = map[string]any{"anyOf": []any{
			map[string]any{"type": "integer", "minimum": 0, "maximum": int64(maxExact)},
			map[string]any{"type": "string", "pattern": "^[0-9]+$"},
		}}
		desc += " as an unsigned number; beyond 2^53 a string of digits"
	case kindDecimal:
		s = map[string]any{"type": "string", "pattern": `^-?[0-9]+(\.[0-9]+)?$`}
		if hasScale {
			desc += fmt.Sprintf(", %d digits after the point", scale)
		}
		desc += "; exact, as a string"
	case kindFloat32, kindFloat64:
		s = map[string]any{"anyOf": []any{
			map[string]any{"type": "number"},
			map[string]any{"enum": []string{"NaN", "Infinity", "-Infinity"}},
		}}
	case kindDate:
		s = map[string]any{"type": "string", "format": "date"}
		desc += "; a zero date is null"
	case kindDateTime:
		s = map[string]any{"type": "string", "format": "date-time"}
		if hasScale && scale >= 0 && scale <= 6 {
			desc += fmt.Sprintf("(%d), in UTC with %d fractional digits", scale, scale)
		} else {
			desc += ", in UTC"
		}
		desc += "; a zero date is null"
	case kindTime:
		s = map[string]any{"type": "string", "pattern": `^-?[0-9]{1,4}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?$`}
	case kindText:
		s = map[string]any{"type": "string"}
	case kindSet:
		s = map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
		desc += ": its members"
	case kindJSON:
		s = map[string]any{}
		if c.dbType == "JSON" {
			desc = "JSON: the document, embedded"
		} else {
			desc += " named in json: the document, embedded"
		}
	case kindBytes:
		s = map[string]any{"type": "string", "contentEncoding": "base64"}
		desc += ", base64"
	}
	s["description"] = desc
	return s
}

// orNull returns s that also allows null.
func orNull(s map[string]any) map[string]any {
	switch t := s["type"].(type) {
	case string:
		if t == "null" {
			return s
		}
		s["type"] = []string{t, "null"}
		return s
	case nil:
		if anyOf, ok := s["anyOf"].([]any); ok {
			s["anyOf"] = append(anyOf, map[string]any{"type": "null"})
		}
		// No type at all (an embedded JSON document): null is a value.
		return s
	}
	return s
}
