package client_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/internal/natstest"
	"github.com/dbapi-dev/dbapi/internal/prereq"
)

// The JavaScript client's session (examples/js/session.test.mjs) against
// a stand-in service of its own on a real NATS server: it sends back the
// last Dbapi-Position it received as Dbapi-After. Without node or the
// installed dependencies (`make test` runs npm ci) the test is skipped,
// or fails under CI=true.
func TestJavaScriptSession(t *testing.T) {
	dir := prereq.NodeProject(t, "../examples/js", "@nats-io/transport-node")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=tap", "session.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NATS_URL="+natstest.URL(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "# pass 2") || !strings.Contains(string(out), "# fail 0") {
		t.Errorf("node --test:\n%s", out)
	}
}
