package catalog

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// randomDecimalText returns decimal text [-]digits[.digits] with leading
// and trailing zeros now and then, near bound's digits half of the time.
func randomDecimalText(r *rand.Rand, near string) string {
	if near != "" && r.IntN(2) == 0 {
		// Change a digit or two of the bound, keep its shape.
		b := []byte(near)
		for range 1 + r.IntN(2) {
			i := r.IntN(len(b))
			if b[i] >= '0' && b[i] <= '9' {
				b[i] = byte('0' + r.IntN(10))
			}
		}
		s := string(b)
		switch r.IntN(6) {
		case 0:
			s = strings.TrimPrefix(s, "-")
		case 1:
			if !strings.HasPrefix(s, "-") {
				s = "-" + s
			}
		case 2:
			if strings.Contains(s, ".") {
				s += "0"
			} else {
				s += ".0"
			}
		case 3:
			s = strings.Replace(s, "-", "-0", 1)
			if s[0] != '-' {
				s = "0" + s
			}
		}
		return s
	}
	digits := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		return b.String()
	}
	s := digits(1 + r.IntN(5))
	if r.IntN(2) == 0 {
		s += "." + digits(1+r.IntN(4))
	}
	if r.IntN(3) == 0 {
		s = "-" + s
	}
	return s
}

// The bound patterns match exactly the decimal text whose value is within
// the bound, for random bounds and texts.
func TestBoundPatterns(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	bounds := []string{"0", "1", "-1", "9", "10", "99", "100", "1000", "0.5", "-0.5", "12.34", "-12.34", "0.01", "9.99", "909.09",
		"-9223372036854775808", "18446744073709551615", "999999", "1000000", "0.000001"}
	for range 200 {
		bounds = append(bounds, randomDecimalText(r, ""))
	}
	checked := 0
	for _, bs := range bounds {
		b := decimal.RequireFromString(bs)
		ge := regexp.MustCompile(atLeastPattern(b))
		le := regexp.MustCompile(atMostPattern(b))
		for range 400 {
			s := randomDecimalText(r, bs)
			if !decimalRE.MatchString(s) {
				continue
			}
			v := decimal.RequireFromString(s)
			if got, want := ge.MatchString(s), v.GreaterThanOrEqual(b); got != want {
				t.Fatalf("%s >= %s: pattern says %v\n%s", s, bs, got, ge)
			}
			if got, want := le.MatchString(s), v.LessThanOrEqual(b); got != want {
				t.Fatalf("%s <= %s: pattern says %v\n%s", s, bs, got, le)
			}
			checked++
		}
	}
	if checked < 50000 {
		t.Errorf("only %d texts checked", checked)
	}
}

func TestDigitsPattern(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for _, ps := range [][2]int{{1, 0}, {2, 2}, {5, 2}, {20, 2}, {65, 30}, {3, 0}, {4, 4}} {
		p := &Param{Name: "d", Kind: KindDecimal, Precision: ps[0], Scale: ps[1]}
		re := regexp.MustCompile(digitsPattern(ps[0]-ps[1], ps[1]))
		for range 2000 {
			s := randomDecimalText(r, "")
			if r.IntN(4) == 0 {
				s = "000" + s
			}
			_, err := p.decode([]byte(`"` + s + `"`))
			if got := re.MatchString(s); got != (err == nil) {
				t.Fatalf("decimal(%d,%d) %q: pattern says %v, decoder %v", ps[0], ps[1], s, got, err)
			}
		}
	}
}
