package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// jsonLine decodes one log line, failing on a key that appears twice.
func jsonLine(line string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object: %q", line)
	}
	m := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("key %q twice in %s", k, line)
		}
		m[k] = v
	}
	return m, nil
}

func TestDriverLoggerHasOneMsg(t *testing.T) {
	var buf bytes.Buffer
	driverLogger{slog.New(slog.NewJSONHandler(&buf, nil))}.Print("closing bad idle connection: ", io.EOF)
	m, err := jsonLine(strings.TrimSpace(buf.String()))
	if err != nil || m["msg"] != "mysql driver" || m["err"] != "closing bad idle connection: EOF" {
		t.Errorf("%v: %s", err, buf.String())
	}
}

// What an operator reads, from a bank process whose embedded NATS server
// finds its port taken, that refuses requests as overloaded and is
// stopped: one JSON object with one msg per line; a loud warning with the
// URL to use; one counted warning for the refusals; a request id on the
// lines about requests; "stopped" last.
func TestOperatorLogs(t *testing.T) {
	bin := binary(t, "examples/bank")
	e := newEnv(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DBAPI_") {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(bin)
	cmd.Env = append(env, "DBAPI_MYSQL_DSN="+e.db.FormatDSN(), "DBAPI_NATS_LISTEN="+taken.Addr().String(),
		"DBAPI_PREFIX="+e.prefix, "DBAPI_WORKERS=1", "DBAPI_QUEUE_LEN=1", "DBAPI_LOG_LEVEL=debug", "DBAPI_POOLSIZE=4")
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	wait := func() { once.Do(func() { cmd.Wait() }) }
	t.Cleanup(func() { cmd.Process.Kill(); wait() })

	// The warning names the URL to use.
	var url string
	for deadline := time.Now().Add(time.Minute); url == ""; time.Sleep(50 * time.Millisecond) {
		for _, line := range strings.Split(logs.String(), "\n") {
			if m, err := jsonLine(line); err == nil && m["level"] == "WARN" && strings.Contains(m["msg"].(string), "is taken") {
				url, _ = m["url"].(string)
				if !strings.Contains(m["msg"].(string), url) {
					t.Errorf("the warning does not name the URL to use: %s", line)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no warning that the port is taken:\n%s", logs.String())
		}
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	subject := e.prefix + ".accounts.open"
	waitAnswers(t, nc, subject, logs)
	// One worker held by a locked table, one request queued: the rest are
	// refused.
	unlock := e.lockAccounts()
	const n = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	overloaded := 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := nc.Request(subject, []byte(`{"owner":"y","balance":"1.00"}`), 30*time.Second)
			if err == nil && resp.Header.Get("Nats-Service-Error-Code") == "503" {
				mu.Lock()
				overloaded++
				mu.Unlock()
			}
		}()
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		o := overloaded
		mu.Unlock()
		if o >= n-2 || time.Now().After(deadline) {
			break
		}
	}
	unlock()
	wg.Wait()
	// A bad request is logged (at debug) with its request id.
	nc.Request(subject, []byte(`{"owner":""}`), 10*time.Second)

	cmd.Process.Signal(syscall.SIGTERM)
	wait()

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var last map[string]any
	refusedLines, refusedCount, requestLines := 0, 0.0, 0
	for _, line := range lines {
		m, err := jsonLine(line)
		if err != nil {
			t.Errorf("log line: %v", err)
			continue
		}
		last = m
		msg, _ := m["msg"].(string)
		if strings.HasPrefix(msg, "requests refused as overloaded") {
			refusedLines++
			refusedCount += m["count"].(float64)
		}
		if msg == "request failed" {
			requestLines++
			if id, _ := m["request_id"].(string); id == "" {
				t.Errorf("a line about a request has no request_id: %s", line)
			}
		}
		if strings.Contains(msg, "DBAPI_POOLSIZE") && !strings.Contains(msg, "did you mean DBAPI_POOL_SIZE") {
			t.Errorf("unknown variable warning: %s", line)
		}
	}
	t.Logf("%d log lines; %d requests refused as overloaded, logged in %d line(s) counting %.0f; %d request lines", len(lines), overloaded, refusedLines, refusedCount, requestLines)
	if overloaded < n-2 || refusedLines != 1 || int(refusedCount) != overloaded {
		t.Errorf("%d refused, logged in %d lines counting %.0f; want one line counting them all", overloaded, refusedLines, refusedCount)
	}
	if requestLines == 0 {
		t.Error("no line about a failed request")
	}
	if !strings.Contains(logs.String(), "DBAPI_POOLSIZE is not a dbapi variable") {
		t.Error("no warning about DBAPI_POOLSIZE")
	}
	if last["msg"] != "stopped" {
		t.Errorf("last line %v; want stopped", last)
	}
	if t.Failed() {
		t.Logf("log:\n%s", logs.String())
	}
}
