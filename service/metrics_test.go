package service

import (
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.MetricsAddr = "127.0.0.1:0"
	m := e.start(cfg)
	ids := e.openAccounts(2, "1.00")
	e.call("accounts.transfer", map[string]any{"from": ids[0], "to": ids[1], "amount": "1.00"})
	e.call("accounts.transfer", map[string]any{"from": ids[0], "to": ids[1], "amount": "1.00"})

	resp, err := http.Get(m.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`dbapi_requests_total{code="ok",op="accounts.open"} 2`,
		`dbapi_requests_total{code="ok",op="accounts.transfer"} 1`,
		`dbapi_requests_total{code="insufficient_funds",op="accounts.transfer"} 1`,
		`dbapi_transaction_seconds_count{op="accounts.transfer"} 2`,
		`dbapi_queue_requests 0`,
		`dbapi_queue_wait_seconds_count{op="accounts.transfer"} 2`,
		`dbapi_workers_busy 0`,
		`dbapi_nats_connected 1`,
		`dbapi_nats_reconnects_total 0`,
		`dbapi_build_info{goversion="` + runtime.Version() + `",version="` + Version() + `"} 1`,
		`go_goroutines `,
		`go_sql_max_open_connections{db_name="dbapi"} 16`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics has no %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}
