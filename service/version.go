package service

import (
	"runtime/debug"
	"strings"
)

// version is set at build time with
// -ldflags "-X github.com/dbapi-dev/dbapi/service.version=1.2.3"; else it
// comes from the module's build information.
var version string

// nextVersion is the release this tree is heading for; a build from a
// checkout reports it as a SemVer pre-release.
const nextVersion = "0.2.0"

// Version returns the version of the running program as SemVer (the NATS
// micro service needs it so): the one set at build time, else the main
// module's version, else nextVersion-devel with the VCS revision as build
// metadata.
func Version() string {
	if version != "" {
		return version
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
