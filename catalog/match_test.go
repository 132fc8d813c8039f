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
		{"time", isTime, regexp.MustCompile(timePattern)},
	}
	inputs := []string{
		"", "2024-01-31", "2024-1-31", "2024-01-3", "-2024-01-31", "2024-01-31 ", " 2024-01-31",
		"2024/01/31", "20240-1-31", "2024-01-31\n", "１２", "1\n", "-1.5\n", "12345678901234567890",
		"-0.00", "1e5", "+1", "0x1f", "1.", ".5", "--1", "-.5", "1..2", "1.2.3", "٣",
		"2024-01-02T03:04:05Z", "2024-01-02t03:04:05z", "2024-01-02T03:04:05,5Z", "2024-01-02T03:04:05.123456789123Z",
		"2024-01-02T23:59:60Z", "2024-01-02T24:00:00Z", "2024-01-02T03:04:05+24:00", "2024-01-02T03:04:05+23:59",
		"2024-01-02T03:04:05+00:60", "2024-01-02T03:04:05-00:00", "2024-01-02T03:04:05.Z", "2024-01-02 03:04:05Z",
		"2024-01-02T03:04Z", "2024-01-02T3:04:05Z", "2024-01-02T03:04:05+0100", "2024-01-02T03:04:05+01", "2024-01-02T03:04:05.5+01:00",
		"2024-01-02T03:04:05.5+01:00 ", "2024-01-02T19:59:59Z", "2024-01-02T20:00:00Z", "2024-01-02T03:60:00Z",
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
