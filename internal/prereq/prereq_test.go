package prereq_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/dbapi-dev/dbapi/internal/prereq"
)

// Run in a child process with and without CI: a missing prerequisite
// fails the test under CI and skips it elsewhere; nil requires nothing.
func TestRequire(t *testing.T) {
	if os.Getenv("PREREQ_CHILD") != "" {
		prereq.Require(t, nil)
		prereq.Require(t, errors.New("galera-4 is not installed"))
		t.Log("not reached")
		return
	}
	for _, c := range []struct {
		ci, want string
	}{{"true", "--- FAIL"}, {"", "--- SKIP"}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRequire$", "-test.v")
		cmd.Env = append(os.Environ(), "PREREQ_CHILD=1", "CI="+c.ci)
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), c.want) || !strings.Contains(string(out), "galera-4 is not installed") || strings.Contains(string(out), "not reached") {
			t.Errorf("CI=%q: want %s with the reason:\n%s", c.ci, c.want, out)
		}
	}
}
