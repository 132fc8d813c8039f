package service

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// /healthz and /readyz through a stop: ready while serving, not ready as
// soon as the stop begins (while a transaction still runs and /healthz
// still answers), gone once the service has stopped.
func TestHealthThroughAStop(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.HTTPAddr, cfg.AllowRawSQL = "127.0.0.1:0", true
	m := e.start(cfg)
	base := "http://" + m.HTTP.Addr
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz while serving: %d %s", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz while serving: %d %s", code, body)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "dbapi_queue_requests 0") {
		t.Fatalf("/metrics: %d %.200s", code, body)
	}
	if m.MetricsURL != base+"/metrics" {
		t.Errorf("MetricsURL = %s", m.MetricsURL)
	}

	// A transaction that takes 2 seconds keeps the stop going.
	slow := make(chan reply, 1)
	go func() {
		slow <- e.call("sql.query", map[string]any{"sql": "SELECT SLEEP(2) AS s"})
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if n, _ := m.Consumer.Queued(); n == 0 && m.Consumer.Handled() == 0 && m.DB.Stats().InUse > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow request never started")
		}
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "\ndbapi_workers_busy 1\n") {
		t.Errorf("/metrics while one request runs: %d, no dbapi_workers_busy 1", code)
	}
	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	var sawStopping bool
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		code, body := get(t, base+"/readyz")
		if code == 503 && strings.Contains(body, "stopping") {
			sawStopping = true
			break
		}
		if code != 200 {
			t.Fatalf("/readyz during the stop: %d %s", code, body)
		}
	}
	if !sawStopping {
		t.Fatal("/readyz never said stopping")
	}
	select {
	case err := <-closed:
		t.Fatalf("the stop ended (%v) before the running transaction did", err)
	default:
	}
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz during the stop: %d %s", code, body)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if r := <-slow; r.err != nil || r.status != 0 || string(r.body) != `[{"s":0}]` {
		t.Errorf("the request running at the stop: %v", r)
	}
	if code, body := get(t, base+"/healthz"); code != 0 {
		t.Errorf("/healthz after the stop: %d %s", code, body)
	}
}

// An address in use stops the service at once: before it touches the
// database (here unreachable) or NATS.
func TestHTTPAddrInUseFailsFirst(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, name := range []string{"DBAPI_HTTP_ADDR", "DBAPI_METRICS_ADDR"} {
		cfg := Config{MySQLDSN: "u@tcp(127.0.0.1:1)/x", NATSURL: "nats://127.0.0.1:1", PoolSize: 1, Migrate: true,
			ConnectTimeout: time.Minute, LogLevel: "error", MigrationsTable: "t"}
		if name == "DBAPI_HTTP_ADDR" {
			cfg.HTTPAddr = l.Addr().String()
		} else {
			cfg.HTTPAddr, cfg.MetricsAddr = "127.0.0.1:0", l.Addr().String()
		}
		m := NewMain(cfg, bankApp())
		start := time.Now()
		err := m.Run(context.Background())
		m.Close()
		if err == nil || !strings.HasPrefix(err.Error(), name+": ") || !strings.Contains(err.Error(), "address already in use") {
			t.Errorf("%s in use: Run = %v", name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s in use: Run took %s; it should fail before trying the database", name, d)
		}
	}
}

// The healthcheck subcommand exits 0 when /readyz says ready, 1 when not.
func TestHealthcheckCommand(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.HTTPAddr = "127.0.0.1:0"
	m := e.start(cfg)
	_, port, _ := net.SplitHostPort(m.HTTP.Addr)
	t.Setenv("DBAPI_HTTP_ADDR", ":"+port) // the form a container uses
	var out bytes.Buffer
	if err := command([]string{"healthcheck"}, App{}, &out); err != nil || out.String() != "ready\n" {
		t.Fatalf("healthcheck of a ready service: %v %q", err, out.String())
	}
	m.HTTP.Stopping()
	err := command([]string{"healthcheck"}, App{}, &out)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "stopping") {
		t.Fatalf("healthcheck of a stopping service: %v", err)
	}
	t.Setenv("DBAPI_HTTP_ADDR", "")
	if err := command([]string{"healthcheck"}, App{}, &out); err == nil {
		t.Fatal("healthcheck without DBAPI_HTTP_ADDR succeeded")
	}
}
