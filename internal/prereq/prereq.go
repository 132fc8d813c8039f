package prereq

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Missing fails tb under CI and skips it elsewhere, with the message.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// Require is Missing with err's text when err is not nil.
func Require(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		Missing(tb, "%v", err)
	}
}

// NodeProject returns the absolute path of the Node.js project in dir
// once node is installed and so is the project's dependency (`make test`
// runs npm ci), else it is Missing.
func NodeProject(tb testing.TB, dir, dependency string) string {
	tb.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		Missing(tb, "node (Node.js 20 or later) is not installed: %v", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, "node_modules", dependency)); err != nil {
		Missing(tb, "%s is not installed in %s: run `make test`, or `npm ci` there", dependency, abs)
	}
	return abs
}
