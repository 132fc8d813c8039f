package service

import (
	"github.com/dbapi-dev/dbapi/internal/prereq"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// nodeProject returns the path of the Node.js project in dir (relative to
// this package) once its dependencies are installed (`make test` runs npm
// ci). Without node or the installed dependencies the test is skipped,
// with the reason, or fails under CI=true.
func nodeProject(t *testing.T, dir string, dependency string) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		prereq.Missing(t, "node (Node.js 20 or later) is not installed: %v", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, "node_modules", dependency)); err != nil {
		prereq.Missing(t, "%s is not installed in %s: run `make test`, or `npm ci` there", dependency, abs)
	}
	return abs
}
