package catalog

import (
	"regexp"
	"testing"
)

// TestMatchersAgreeWithRegexps checks isInt, isDecimal and isDate against
// the regular expressions the JSON Schemas show: on every string of up to
// six characters over an alphabet that exercises them, and on chosen
// longer ones.
func TestMatchersAgreeWithRegexps(t *testing.T) {
	matchers := []struct {
		name string
		fn   func(string) bool
		re   *regexp.Regexp
	}{
		{"int", isInt, intRE},
		{"decimal", isDecimal, decimalRE},
		{"date", isDate, dateRE},
	}
	inputs := []string{
		"", "2024-01-31", "2024-1-31", "2024-01-3", "-2024-01-31", "2024-01-31 ", " 2024-01-31",
		"2024/01/31", "20240-1-31", "2024-01-31\n", "１２", "1\n", "-1.5\n", "12345678901234567890",
		"-0.00", "1e5", "+1", "0x1f", "1.", ".5", "--1", "-.5", "1..2", "1.2.3", "٣",
	}
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		inputs = append(inputs, prefix)
		if n == 0 {
			return
		}
		for _, c := range []string{"0", "9", "-", ".", "a", "\n"} {
			gen(prefix+c, n-1)
		}
	}
	gen("", 6)
	for _, m := range matchers {
		for _, s := range inputs {
			if got, want := m.fn(s), m.re.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v; %s says %v", m.name, s, got, m.re, want)
			}
		}
	}
}
