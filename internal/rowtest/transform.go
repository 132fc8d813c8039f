package rowtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// The transformations below take the mariadb client's --batch --raw output
// of a non-NULL value and return the JSON text the API writes for it, as
// README "Types in results" documents. Output the transformation does not
// expect gives a text that is not JSON ("<client printed ...>"), so that
// a comparison fails and says why.

// MaxExact is 2^53: integers up to it in magnitude are JSON numbers,
// larger ones strings of their digits.
const MaxExact = 1 << 53

// Quote is the JSON string s, as encoding/json (and so rowjson) writes it.
func Quote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Int: a number when |v| <= 2^53, else a string of its digits.
func Int(b []byte) string {
	v, ok := new(big.Int).SetString(string(b), 10)
	if !ok {
		return fmt.Sprintf("<client printed %q, not an integer>", b)
	}
	if v.CmpAbs(big.NewInt(MaxExact)) <= 0 {
		return v.String()
	}
	return `"` + v.String() + `"`
}

// Bit: the client prints BIT's raw bytes, big-endian; the API writes them
// as an unsigned integer.
func Bit(b []byte) string { return Int([]byte(new(big.Int).SetBytes(b).String())) }

// Text: a string, as printed (DECIMAL, TIME, the character types, ENUM).
func Text(b []byte) string { return Quote(string(b)) }

// Float32: FLOAT, read as 32 bits (1.1 stays 1.1).
func Float32(b []byte) string { return float(b, 32) }

// Float64: DOUBLE.
func Float64(b []byte) string { return float(b, 64) }

func float(b []byte, bits int) string {
	f, err := strconv.ParseFloat(string(b), bits)
	if err != nil {
		return fmt.Sprintf("<client printed %q, not a number>", b)
	}
	var out []byte
	if bits == 32 {
		out, err = json.Marshal(float32(f))
	} else {
		out, err = json.Marshal(f)
	}
	if err != nil {
		return fmt.Sprintf("<client printed %q, not a finite number>", b)
	}
	return string(out)
}

// IsZeroDate reports whether b is a zero date or datetime
// ("0000-00-00", "0000-00-00 00:00:00.000", ...).
func IsZeroDate(b []byte) bool { return len(bytes.Trim(b, "0-: .")) == 0 }

// Date: as printed; the zero date is null.
func Date(b []byte) string {
	if IsZeroDate(b) {
		return "null"
	}
	return Quote(string(b))
}

// DateTime: "2006-01-02 15:04:05.000" is "2006-01-02T15:04:05.000Z" (the
// session is in UTC, and the client prints the column's digits); the zero
// date is null.
func DateTime(b []byte) string {
	if IsZeroDate(b) {
		return "null"
	}
	s := string(b)
	if len(s) < 19 || s[10] != ' ' {
		return fmt.Sprintf("<client printed %q, not a datetime>", s)
	}
	return Quote(s[:10] + "T" + s[11:] + "Z")
}

// Set: "a,c" is ["a","c"], "" is [].
func Set(b []byte) string {
	members := []string{}
	if len(b) > 0 {
		members = strings.Split(string(b), ",")
	}
	out, _ := json.Marshal(members)
	return string(out)
}

// JSON: the stored document, compacted (its key order, escapes and
// numbers' text kept).
func JSON(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return fmt.Sprintf("<client printed %q, not JSON>", b)
	}
	return buf.String()
}

// Base64: binary values are base64 strings.
func Base64(b []byte) string { return Quote(base64.StdEncoding.EncodeToString(b)) }
