package service

import (
	"regexp"
	"runtime/debug"
	"strings"
)

// version is set at build time with
// -ldflags "-X github.com/dbapi-dev/dbapi/service.version=$(git describe --tags --always --dirty)"
// (the Makefile and the Dockerfile do); else it comes from the module's
// build information.
var version string

// semver is the pattern NATS micro (and semver.org) accept.
var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// fromBuild turns what `git describe` printed into SemVer: "v0.2.0" is
// 0.2.0, "v0.2.0-3-gabc1234" 0.2.0-3-gabc1234, and anything that is not
// SemVer (a bare commit "abc1234-dirty" when no tag exists) becomes build
// metadata of nextVersion-devel.
func fromBuild(v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if semver.MatchString(v) {
		return v
	}
	meta := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, v)
	meta = strings.Trim(strings.ReplaceAll(meta, "..", "."), ".")
	if meta == "" {
		return nextVersion + "-devel"
	}
	return nextVersion + "-devel+" + meta
}

// nextVersion is the release this tree is heading for; a build from a
// checkout reports it as a SemVer pre-release.
const nextVersion = "0.2.0"

// Version returns the version of the running program as SemVer (the NATS
// micro service needs it so): the one set at build time, else the main
// module's version, else nextVersion-devel with the VCS revision as build
// metadata.
func Version() string {
	if version != "" {
		return fromBuild(version)
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nextVersion + "-devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return strings.TrimPrefix(v, "v")
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ".dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		return nextVersion + "-devel+" + rev + dirty
	}
	return nextVersion + "-devel"
}
