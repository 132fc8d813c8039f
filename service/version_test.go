package service

import "testing"

func TestFromBuild(t *testing.T) {
	for in, want := range map[string]string{
		"v0.2.0":               "0.2.0",
		"v0.2.0-3-gabc1234":    "0.2.0-3-gabc1234",
		"v1.0.0-rc.1-dirty":    "1.0.0-rc.1-dirty",
		"abc1234":              nextVersion + "-devel+abc1234",
		"abc1234-dirty":        nextVersion + "-devel+abc1234-dirty",
		"release/2026 11":      nextVersion + "-devel+release-2026-11",
		"":                     nextVersion + "-devel",
		"v0.2.0-3-gabc1234\n":  "0.2.0-3-gabc1234",
		"1.2":                  nextVersion + "-devel+1.2",
		"v0.2.0+build.7":       "0.2.0+build.7",
		"v0.2.0-3-gabc1234+x!": nextVersion + "-devel+0.2.0-3-gabc1234-x-",
	} {
		got := fromBuild(in)
		if got != want {
			t.Errorf("fromBuild(%q) = %q, want %q", in, got, want)
		}
		if !semver.MatchString(got) {
			t.Errorf("fromBuild(%q) = %q is not SemVer", in, got)
		}
	}
}
