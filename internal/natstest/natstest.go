// Package natstest gives tests a real NATS server: by default one embedded
// in the test process on a free port, shut down when the test ends; or the
// server at DBAPI_TEST_NATS_URL when that is set.
package natstest

import (
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// URL returns the URL of a NATS server for the test.
func URL(t testing.TB) string {
	t.Helper()
	if url := os.Getenv("DBAPI_TEST_NATS_URL"); url != "" {
		return url
	}
	url, _ := embedded(t, false)
	return url
}

// embedded starts a NATS server in the test process on a free port, with
// JetStream (its store in a temporary folder) if asked, and shuts it down
// when the test ends.
func embedded(t testing.TB, jetStream bool) (string, *server.Server) {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT}
	if jetStream {
		opts.JetStream, opts.StoreDir = true, t.TempDir()
	}
	ns := Start(t, opts)
	return ns.ClientURL(), ns
}

// Start starts a NATS server with opts in the test process (quiet, with
// no signal handlers) and shuts it down when the test ends: for a test
// that needs a server of its own to stop, restart or reconfigure.
func Start(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("embedded NATS: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded NATS server did not start")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// Connect connects to url and closes the connection when the test ends.
func Connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name(t.Name()))
	if err != nil {
		t.Fatalf("connect to NATS at %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// JetStreamURL returns the URL of a NATS server with JetStream for the
// test: by default one embedded in the test process with its store in a
// temporary folder, shut down when the test ends; or the server at
// DBAPI_TEST_NATS_URL when that is set (the test must then use stream
// names and subjects of its own). The embedded server is also returned
// (nil for an outside one), so a test can restart it on the same store.
func JetStreamURL(t testing.TB) (string, *server.Server) {
	t.Helper()
	if url := os.Getenv("DBAPI_TEST_NATS_URL"); url != "" {
		return url, nil
	}
	return embedded(t, true)
}
