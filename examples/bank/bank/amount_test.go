package bank_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/dbapi-dev/dbapi/examples/bank/bank"
)

func TestParseAmount(t *testing.T) {
	accept := []struct{ in, want string }{
		{"0", "0.00"},
		{"10", "10.00"},
		{"10.5", "10.50"},
		{"10.50", "10.50"},
		{"-2.50", "-2.50"},
		{"-0", "0.00"},
		{"0.01", "0.01"},
		{"-0.01", "-0.01"},
		{"007", "7.00"},
		{"123456789012345678", "123456789012345678.00"},
		{"999999999999999999", "999999999999999999.00"},
		{"999999999999999999.99", "999999999999999999.99"},
		{"-999999999999999999.99", "-999999999999999999.99"},
		// Leading zeros do not count towards the 18 integer digits.
		{"0000000000000000000001", "1.00"},
	}
	for _, tt := range accept {
		t.Run(tt.in, func(t *testing.T) {
			a, err := bank.ParseAmount(tt.in)
			if err != nil {
				t.Fatalf("ParseAmount(%q): %v", tt.in, err)
			}
			if got := a.String(); got != tt.want {
				t.Errorf("ParseAmount(%q).String() = %q, want %q", tt.in, got, tt.want)
			}
		})
	}

	reject := []string{
		"", "1e3", "1E3", "+1", " 1", "1 ", "1\n", "1.", ".5", "-.5", "2.505", "0.001",
		"1000000000000000000",    // 19 integer digits
		"-1000000000000000000.5", // 19 integer digits
		"abc", "-", "--1", "1.2.3", "0x10", "1,5", "1_000", "NaN", "Inf", "-Infinity",
		"１", // a full-width digit
		"\"1\"",
	}
	for _, in := range reject {
		t.Run("reject "+in, func(t *testing.T) {
			if a, err := bank.ParseAmount(in); err == nil {
				t.Errorf("ParseAmount(%q) = %s, want an error", in, a)
			}
		})
	}
}

// amountGrammar is the documented syntax, with the limits ParseAmount adds.
var amountGrammar = regexp.MustCompile(`^-?0*[0-9]{1,18}(\.[0-9]{1,2})?$`)

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"0", "10", "10.5", "-2.50", "999999999999999999.99", "1e3", "+1", ".5", "2.505", "1000000000000000000", "abc", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := bank.ParseAmount(s)
		if err != nil {
			return
		}
		if !amountGrammar.MatchString(s) {
			t.Fatalf("ParseAmount accepted %q, which breaks the documented syntax", s)
		}
		out := a.String()
		if i := strings.IndexByte(out, '.'); i < 0 || len(out)-i != 3 {
			t.Fatalf("String() = %q, want exactly two decimals", out)
		}
		b, err := bank.ParseAmount(out)
		if err != nil {
			t.Fatalf("ParseAmount(%q) ok but its String %q does not parse: %v", s, out, err)
		}
		if a.Cmp(b) != 0 || b.String() != out {
			t.Fatalf("%q -> %q -> %q: value changed", s, out, b.String())
		}
		// The JSON form round-trips too.
		j, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		var c bank.Amount
		if err := json.Unmarshal(j, &c); err != nil || c.Cmp(a) != 0 {
			t.Fatalf("JSON %s of %q does not round-trip: %v", j, s, err)
		}
	})
}
