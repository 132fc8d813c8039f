package rowjson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// kind is how a column's values are encoded.
type kind int

const (
	kindNull     kind = iota
	kindInt           // integers of every size, signed or not, and YEAR
	kindBit           // BIT(n): big-endian bytes, as an unsigned integer
	kindDecimal       // exact digits, as a string
	kindFloat32       // FLOAT
	kindFloat64       // DOUBLE
	kindDate          // DATE
	kindDateTime      // DATETIME and TIMESTAMP
	kindTime          // TIME: the server's text
	kindText          // character strings and ENUM
	kindSet           // SET: an array of members
	kindJSON          // a JSON document, embedded
	kindBytes         // binary strings: base64
)

// maxExact is the largest magnitude an IEEE double (a JSON number in
// JavaScript and most other decoders) holds exactly; integers beyond it
// are encoded as strings.
const maxExact = 1 << 53

// column is what the encoder needs to know about one column.
type column struct {
	name   string
	dbType string
	key    []byte // `"name":`
	kind   kind
	layout string // time layout for kindDate and kindDateTime
}

// kinds maps the driver's DatabaseTypeName to an encoding.
var kinds = map[string]kind{
	"NULL":     kindNull,
	"TINYINT":  kindInt,
	"SMALLINT": kindInt, "MEDIUMINT": kindInt, "INT": kindInt, "BIGINT": kindInt,
	"UNSIGNED TINYINT": kindInt, "UNSIGNED SMALLINT": kindInt, "UNSIGNED MEDIUMINT": kindInt,
	"UNSIGNED INT": kindInt, "UNSIGNED BIGINT": kindInt, "YEAR": kindInt,
	"BIT":     kindBit,
	"DECIMAL": kindDecimal,
	"FLOAT":   kindFloat32, "DOUBLE": kindFloat64,
	"DATE": kindDate, "DATETIME": kindDateTime, "TIMESTAMP": kindDateTime,
	"TIME": kindTime,
	"CHAR": kindText, "VARCHAR": kindText, "TINYTEXT": kindText, "TEXT": kindText,
	"MEDIUMTEXT": kindText, "LONGTEXT": kindText, "ENUM": kindText,
	"SET":    kindSet,
	"JSON":   kindJSON,
	"BINARY": kindBytes, "VARBINARY": kindBytes, "TINYBLOB": kindBytes, "BLOB": kindBytes,
	"MEDIUMBLOB": kindBytes, "LONGBLOB": kindBytes, "GEOMETRY": kindBytes, "VECTOR": kindBytes,
}

// newColumn describes a column from the driver's type name and, for
// DATETIME and TIMESTAMP, its fractional digits (scale; -1 or more than 6
// when unknown). isJSON marks a text column that holds JSON documents.
func newColumn(name, dbType string, scale int64, isJSON bool) (column, error) {
	k, ok := kinds[dbType]
	if !ok {
		return column{}, fmt.Errorf("rowjson: column %q has a type the encoder does not know (%q)", name, dbType)
	}
	if isJSON && k != kindNull { // a NULL literal has type NULL
		if k != kindText && k != kindJSON {
			return column{}, fmt.Errorf("rowjson: column %q is named as JSON but its type is %s, not text", name, dbType)
		}
		k = kindJSON
	}
	key, err := json.Marshal(name)
	if err != nil {
		return column{}, fmt.Errorf("rowjson: column name %q: %w", name, err)
	}
	c := column{name: name, dbType: dbType, key: append(key, ':'), kind: k}
	switch k {
	case kindDate:
		c.layout = time.DateOnly
	case kindDateTime:
		// An expression whose scale the server does not know reports 31
		// (NOT_FIXED_DEC); write up to 6 digits, without trailing zeros.
		frac := ".999999"
		if scale >= 0 && scale <= 6 {
			frac = ""
			if scale > 0 {
				frac = "." + strings.Repeat("0", int(scale))
			}
		}
		c.layout = "2006-01-02T15:04:05" + frac + "Z"
	}
	return c, nil
}

// appendValue appends the JSON encoding of v, a value scanned from the
// column into an *any: nil, []byte, int64, uint64, float32, float64 or
// time.Time, depending on the protocol and the driver settings.
func (c *column) appendValue(dst []byte, v any) ([]byte, error) {
	if v == nil {
		return append(dst, "null"...), nil
	}
	switch c.kind {
	case kindInt:
		switch v := v.(type) {
		case int64:
			return appendInt(dst, v), nil
		case uint64:
			return appendUint(dst, v), nil
		case []byte:
			return c.appendIntText(dst, string(v))
		case string:
			return c.appendIntText(dst, v)
		}
	case kindBit:
		switch v := v.(type) {
		case []byte:
			if len(v) > 8 {
				return nil, c.errorf("a BIT value of %d bytes", len(v))
			}
			var n uint64
			for _, b := range v {
				n = n<<8 | uint64(b)
			}
			return appendUint(dst, n), nil
		case int64:
			return appendInt(dst, v), nil
		case uint64:
			return appendUint(dst, v), nil
		}
	case kindDecimal:
		if s, ok := text(v); ok {
			if !isDecimal(s) {
				return nil, c.errorf("a DECIMAL value that is not a plain decimal number")
			}
			return appendString(dst, s), nil
		}
	case kindFloat32:
		switch v := v.(type) {
		case float32:
			return appendFloat(dst, float64(v), 32), nil
		case float64:
			return appendFloat(dst, v, 32), nil
		}
		if s, ok := text(v); ok {
			f, err := strconv.ParseFloat(s, 32)
			if err != nil {
				return nil, c.errorf("a FLOAT value that does not parse")
			}
			return appendFloat(dst, f, 32), nil
		}
	case kindFloat64:
		if f, ok := v.(float64); ok {
			return appendFloat(dst, f, 64), nil
		}
		if s, ok := text(v); ok {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, c.errorf("a DOUBLE value that does not parse")
			}
			return appendFloat(dst, f, 64), nil
		}
	case kindDate, kindDateTime:
		if t, ok := v.(time.Time); ok {
			if t.IsZero() {
				// The driver's reading of a zero date; see the package doc.
				return append(dst, "null"...), nil
			}
			dst = append(dst, '"')
			dst = t.UTC().AppendFormat(dst, c.layout)
			return append(dst, '"'), nil
		}
		if s, ok := text(v); ok {
			return c.appendDateText(dst, s)
		}
	case kindTime:
		if s, ok := text(v); ok {
			if !isTime(s) {
				return nil, c.errorf("a TIME value that is not [-]HH:MM:SS[.ffffff]")
			}
			return appendString(dst, s), nil
		}
	case kindText:
		if s, ok := text(v); ok {
			if !utf8.ValidString(s) {
				return nil, c.errorf("text that is not valid UTF-8")
			}
			return appendString(dst, s), nil
		}
	case kindSet:
		if s, ok := text(v); ok {
			if !utf8.ValidString(s) {
				return nil, c.errorf("text that is not valid UTF-8")
			}
			dst = append(dst, '[')
			if s != "" {
				for i, m := range strings.Split(s, ",") {
					if i > 0 {
						dst = append(dst, ',')
					}
					dst = appendString(dst, m)
				}
			}
			return append(dst, ']'), nil
		}
	case kindJSON:
		if b, ok := v.([]byte); ok {
			return c.appendJSON(dst, b)
		}
		if s, ok := v.(string); ok {
			return c.appendJSON(dst, []byte(s))
		}
	case kindBytes:
		switch v := v.(type) {
		case []byte:
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, v)
			return append(dst, '"'), nil
		case string:
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, []byte(v))
			return append(dst, '"'), nil
		}
	case kindNull:
		// Only nil, handled above.
	}
	return nil, c.errorf("an unexpected value of Go type %T", v)
}

func (c *column) errorf(format string, args ...any) error {
	return fmt.Errorf("rowjson: column %q (%s) holds %s", c.name, c.dbType, fmt.Sprintf(format, args...))
}

// text returns v as a string if it is a []byte or a string.
func text(v any) (string, bool) {
	switch v := v.(type) {
	case []byte:
		return string(v), true
	case string:
		return v, true
	}
	return "", false
}

func appendInt(dst []byte, v int64) []byte {
	if v >= -maxExact && v <= maxExact {
		return strconv.AppendInt(dst, v, 10)
	}
	dst = append(dst, '"')
	dst = strconv.AppendInt(dst, v, 10)
	return append(dst, '"')
}

func appendUint(dst []byte, v uint64) []byte {
	if v <= maxExact {
		return strconv.AppendUint(dst, v, 10)
	}
	dst = append(dst, '"')
	dst = strconv.AppendUint(dst, v, 10)
	return append(dst, '"')
}

// appendIntText appends an integer the driver left as text (the binary
// protocol does so for BIGINT UNSIGNED values above 2^63-1).
func (c *column) appendIntText(dst []byte, s string) ([]byte, error) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return appendInt(dst, i), nil
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return appendUint(dst, u), nil
	}
	return nil, c.errorf("an integer that does not parse")
}

// appendFloat appends f as encoding/json writes it, or as a string when
// JSON has no number for it.
func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	var b []byte
	var err error
	if bits == 32 {
		b, err = json.Marshal(float32(f))
	} else {
		b, err = json.Marshal(f)
	}
	if err != nil {
		panic(err) // unreachable: only NaN and ±Inf fail, handled above
	}
	return append(dst, b...)
}

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // unreachable: encoding/json encodes every string
	}
	return append(dst, b...)
}

// appendJSON appends a JSON document, compacted.
func (c *column) appendJSON(dst, doc []byte) ([]byte, error) {
	if !utf8.Valid(doc) {
		return nil, c.errorf("a JSON document that is not valid UTF-8")
	}
	buf := bytes.NewBuffer(dst)
	if err := json.Compact(buf, doc); err != nil {
		return nil, c.errorf("text that is not a JSON document")
	}
	return buf.Bytes(), nil
}

// appendDateText appends a DATE, DATETIME or TIMESTAMP the driver left as
// text (parseTime=false): "2006-01-02" or "2006-01-02 15:04:05[.ffffff]".
func (c *column) appendDateText(dst []byte, s string) ([]byte, error) {
	if strings.Trim(s, "0-: .") == "" {
		return append(dst, "null"...), nil // a zero date
	}
	if !isDateText(s, c.kind == kindDateTime) {
		return nil, c.errorf("a date that is not in the server's format")
	}
	if c.kind == kindDate {
		return appendString(dst, s), nil
	}
	return appendString(dst, s[:10]+"T"+s[11:]+"Z"), nil
}

// isDateText reports whether s is "dddd-dd-dd" or, with clock,
// "dddd-dd-dd dd:dd:dd" with up to 6 fractional digits.
func isDateText(s string, clock bool) bool {
	pattern := "dddd-dd-dd"
	if clock {
		pattern = "dddd-dd-dd dd:dd:dd"
	}
	if len(s) < len(pattern) || !matches(s[:len(pattern)], pattern) {
		return false
	}
	rest := s[len(pattern):]
	if !clock || rest == "" {
		return rest == ""
	}
	return len(rest) >= 2 && len(rest) <= 7 && rest[0] == '.' && allDigits(rest[1:])
}

// isTime reports whether s is a TIME as the server writes it:
// [-]H+:MM:SS[.f{1,6}].
func isTime(s string) bool {
	s = strings.TrimPrefix(s, "-")
	h, rest, ok := strings.Cut(s, ":")
	if !ok || h == "" || len(h) > 4 || !allDigits(h) || len(rest) < 5 || !matches(rest[:5], "dd:dd") {
		return false
	}
	rest = rest[5:]
	return rest == "" || (len(rest) >= 2 && len(rest) <= 7 && rest[0] == '.' && allDigits(rest[1:]))
}

// isDecimal reports whether s is [-]digits[.digits].
func isDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	whole, frac, hasFrac := strings.Cut(s, ".")
	return whole != "" && allDigits(whole) && (!hasFrac || (frac != "" && allDigits(frac)))
}

// matches reports whether s has a digit wherever pattern has 'd' and the
// same byte elsewhere.
func matches(s, pattern string) bool {
	if len(s) != len(pattern) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if pattern[i] == 'd' {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		} else if s[i] != pattern[i] {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
