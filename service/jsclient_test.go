package service

import (
	"context"
	"github.com/dbapi-dev/dbapi/internal/prereq"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The JavaScript example client (examples/js) runs against the bank
// service: open, transfer, a failing transfer read through its error
// headers, an idempotent retry, batches. `node --test` fails on the first
// wrong reply.
func TestJavaScriptClient(t *testing.T) {
	dir := prereq.NodeProject(t, "../examples/js", "@nats-io/transport-node")
	e := newEnv(t)
	e.start(e.config())

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=tap", "dbapi.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NATS_URL="+e.url, "DBAPI_PREFIX="+e.prefix)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	// Every test ran and passed (node prints "# pass N").
	if !strings.Contains(string(out), "# pass 5") || !strings.Contains(string(out), "# fail 0") {
		t.Errorf("node --test:\n%s", out)
	}
}
