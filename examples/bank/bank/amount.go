package bank

import (
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/invopop/jsonschema"
	"github.com/shopspring/decimal"
)

// Amount is an exact amount of money, as held by the DECIMAL(20,2)
// columns: at most 18 integer digits and 2 fractional ones. It travels in
// JSON as a string ("2.50"), never as a float.
type Amount struct{ d decimal.Decimal }

// maxAmount is the largest DECIMAL(20,2) value.
var maxAmount = Amount{decimal.RequireFromString("999999999999999999.99")}

var amountRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// ParseAmount parses a decimal string: an optional '-', digits, and an
// optional '.' followed by digits. Exponents, '+', spaces, more than two
// decimals and more than 18 integer digits are refused, never rounded.
func ParseAmount(s string) (Amount, error) {
	if !amountRE.MatchString(s) {
		return Amount{}, errors.New(`want a decimal string such as "2.50"`)
	}
	whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if len(frac) > 2 {
		return Amount{}, errors.New("at most 2 decimal places")
	}
	if len(strings.TrimLeft(whole, "0")) > 18 {
		return Amount{}, errors.New("too large for DECIMAL(20,2)")
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return Amount{}, errors.New(`want a decimal string such as "2.50"`)
	}
	return Amount{d}, nil
}

// MustAmount is ParseAmount for constants; it panics on a bad string.
func MustAmount(s string) Amount {
	a, err := ParseAmount(s)
	if err != nil {
		panic(fmt.Sprintf("bank.MustAmount(%q): %v", s, err))
	}
	return a
}

// String formats a with exactly two decimals, such as "-2.50".
func (a Amount) String() string { return a.d.StringFixed(2) }

// Add returns a+b.
func (a Amount) Add(b Amount) Amount { return Amount{a.d.Add(b.d)} }

// Sub returns a-b.
func (a Amount) Sub(b Amount) Amount { return Amount{a.d.Sub(b.d)} }

// Cmp returns -1, 0 or +1 as a is less than, equal to or greater than b.
func (a Amount) Cmp(b Amount) int { return a.d.Cmp(b.d) }

// Sign returns -1, 0 or +1.
func (a Amount) Sign() int { return a.d.Sign() }

// MarshalJSON writes a as a JSON string.
func (a Amount) MarshalJSON() ([]byte, error) {
	return []byte(`"` + a.String() + `"`), nil
}

// UnmarshalJSON reads a JSON string such as "2.50". A JSON number is
// refused: it may already have passed through a float.
func (a *Amount) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`bank: want a decimal string such as "2.50"`)
	}
	p, err := ParseAmount(s)
	if err != nil {
		return fmt.Errorf("bank: %w", err)
	}
	*a = p
	return nil
}

// Value stores a as a decimal string.
func (a Amount) Value() (driver.Value, error) { return a.String(), nil }

// Scan reads a DECIMAL column.
func (a *Amount) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case []byte:
		s = string(v)
	case string:
		s = v
	default:
		return fmt.Errorf("bank: cannot scan %T into Amount", src)
	}
	p, err := ParseAmount(s)
	if err != nil {
		return fmt.Errorf("bank: scan amount: %w", err)
	}
	*a = p
	return nil
}

// JSONSchema describes an Amount in JSON (for dbapi.SchemaOf).
func (Amount) JSONSchema() *jsonschema.Schema { return amountSchema() }

// amountText is a parameter holding an amount as sent: a string that
// ParseAmount reads, so its errors name the parameter.
type amountText string

// JSONSchema describes an amount parameter (for dbapi.SchemaOf).
func (amountText) JSONSchema() *jsonschema.Schema { return amountSchema() }

func amountSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Type:        "string",
		Pattern:     amountRE.String(),
		Description: "an exact decimal: at most 18 digits before the point and 2 after",
		Examples:    []any{"2.50"},
	}
}
