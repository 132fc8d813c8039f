package catalog

import (
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// The JSON Schema of a parameter says in regular expressions what a JSON
// Schema cannot say with minimum and maximum: the bounds of a number
// written as a string (an int given as "42", a decimal as "2.50"). The
// expressions below match decimal text, [-]digits[.digits] with leading
// and trailing zeros allowed (decimalRE says that much; these only
// compare), by its value. They use only what ECMA-262 and RE2 share.

// atLeastPattern matches the decimal text whose value is >= b.
func atLeastPattern(b decimal.Decimal) string {
	if b.Sign() <= 0 {
		// Any text without a sign (>= 0), or a negative one of at most |b|.
		return "^(?:[0-9][0-9.]*|-" + absAtMost(b.Neg()) + ")$"
	}
	return "^" + absAtLeast(b) + "$"
}

// atMostPattern matches the decimal text whose value is <= b.
func atMostPattern(b decimal.Decimal) string {
	if b.Sign() >= 0 {
		// Any negative text (<= 0, "-0" included), or one of at most b.
		return "^(?:-[0-9.]*|" + absAtMost(b) + ")$"
	}
	return "^-" + absAtLeast(b.Neg()) + "$"
}

// digitsOf returns x (>= 0) as its whole digits without leading zeros
// ("" for 0) and its fraction's digits without trailing zeros.
func digitsOf(x decimal.Decimal) (whole, frac string) {
	s := x.String() // plain notation, as few digits as the value needs
	whole, frac, _ = strings.Cut(s, ".")
	whole = strings.TrimLeft(whole, "0")
	frac = strings.TrimRight(frac, "0")
	return whole, frac
}

// absAtMost matches unsigned decimal text (with leading zeros) whose
// value is <= x (x >= 0).
func absAtMost(x decimal.Decimal) string {
	w, f := digitsOf(x)
	var alts []string
	if lt := wholeBelow(w); lt != nil {
		// A smaller whole part, any fraction.
		alts = append(alts, "0*(?:"+strings.Join(lt, "|")+`)(?:\.[0-9]+)?`)
	}
	// The same whole part and a fraction no larger.
	alts = append(alts, "0*"+w+`(?:\.`+fracAtMost(f)+")?")
	return "(?:" + strings.Join(alts, "|") + ")"
}

// absAtLeast matches unsigned decimal text (with leading zeros) whose
// value is >= x (x >= 0).
func absAtLeast(x decimal.Decimal) string {
	w, f := digitsOf(x)
	// A larger whole part, any fraction.
	alts := []string{"0*(?:" + wholeAbove(w) + `)(?:\.[0-9]+)?`}
	// The same whole part and a fraction no smaller.
	if f == "" {
		alts = append(alts, "0*"+w+`(?:\.[0-9]+)?`)
	} else {
		alts = append(alts, "0*"+w+`\.`+fracAtLeast(f))
	}
	return "(?:" + strings.Join(alts, "|") + ")"
}

// wholeBelow returns the alternatives that match digits without leading
// zeros ("" for zero) whose value is below w (w without leading zeros; ""
// for zero): nil when there is none.
func wholeBelow(w string) []string {
	if w == "" {
		return nil
	}
	n := len(w)
	alts := []string{""} // zero
	if n >= 2 {
		alts = append(alts, fmt.Sprintf("[1-9][0-9]{0,%d}", n-2)) // fewer digits
	}
	// As many digits, the first that differs smaller.
	for i := range n {
		lo := byte('0')
		if i == 0 {
			lo = '1'
		}
		if w[i] > lo {
			alts = append(alts, w[:i]+digitRange(lo, w[i]-1)+repeatDigits(n-i-1))
		}
	}
	return alts
}

// wholeAbove matches digits without leading zeros whose value is above w
// (w without leading zeros; "" for zero).
func wholeAbove(w string) string {
	n := len(w)
	// More digits, or as many with the first that differs larger.
	alts := []string{fmt.Sprintf("[1-9][0-9]{%d,}", n)}
	for i := range n {
		if w[i] < '9' {
			alts = append(alts, w[:i]+digitRange(w[i]+1, '9')+repeatDigits(n-i-1))
		}
	}
	return strings.Join(alts, "|")
}

// fracAtMost matches the digits after a point (one or more; trailing
// zeros allowed) of a fraction no larger than 0.f (f without trailing
// zeros).
func fracAtMost(f string) string {
	if f == "" {
		return "0+"
	}
	return fracAtMostRest(f)
}

// fracAtMostRest matches digits (possibly none) of a fraction no larger
// than 0.f.
func fracAtMostRest(f string) string {
	if f == "" {
		return "0*"
	}
	var alts []string
	if f[0] > '0' {
		alts = append(alts, digitRange('0', f[0]-1)+"[0-9]*")
	}
	alts = append(alts, f[:1]+fracAtMostRest(f[1:]))
	return "(?:" + strings.Join(alts, "|") + ")?"
}

// fracAtLeast matches the digits after a point of a fraction no smaller
// than 0.f (f not empty, without trailing zeros).
func fracAtLeast(f string) string {
	var alts []string
	if f[0] < '9' {
		alts = append(alts, digitRange(f[0]+1, '9')+"[0-9]*")
	}
	if len(f) == 1 {
		alts = append(alts, f+"[0-9]*")
	} else {
		alts = append(alts, f[:1]+fracAtLeast(f[1:]))
	}
	return "(?:" + strings.Join(alts, "|") + ")"
}

func digitRange(lo, hi byte) string {
	if lo == hi {
		return string(lo)
	}
	return "[" + string(lo) + "-" + string(hi) + "]"
}

func repeatDigits(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return "[0-9]"
	}
	return fmt.Sprintf("[0-9]{%d}", n)
}

// digitsPattern matches decimal text with at most whole digits before the
// point (leading zeros not counted) and at most scale after it, as
// decimal(p,s) allows (whole = p - s).
func digitsPattern(whole, scale int) string {
	p := "^-?0*"
	if whole > 0 {
		p += fmt.Sprintf("[0-9]{0,%d}", whole)
	}
	if scale > 0 {
		p += fmt.Sprintf(`(?:\.[0-9]{1,%d})?`, scale)
	}
	return p + "$"
}
