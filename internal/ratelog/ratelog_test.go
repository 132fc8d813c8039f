package ratelog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) lines() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		json.Unmarshal([]byte(l), &m)
		out = append(out, m)
	}
	return out
}

// 10,000 events in an interval make one line with their count; Close logs
// what the last interval collected.
func TestOneLinePerInterval(t *testing.T) {
	var buf syncBuf
	l := New(slog.New(slog.NewJSONHandler(&buf, nil)), time.Hour)
	for i := range 10000 {
		l.Add("requests refused as overloaded", "op", "accounts.transfer", "i", i)
	}
	l.Add("slow consumer")
	if n := len(buf.lines()); n != 0 {
		t.Fatalf("%d lines before the interval ended", n)
	}
	l.Close()
	l.Close()
	lines := buf.lines()
	if len(lines) != 2 {
		t.Fatalf("lines: %v", lines)
	}
	got := lines[0]
	if got["msg"] != "requests refused as overloaded" || got["count"] != float64(10000) || got["level"] != "WARN" || got["i"] != float64(9999) {
		t.Errorf("line: %v", got)
	}
	if lines[1]["msg"] != "slow consumer" || lines[1]["count"] != float64(1) {
		t.Errorf("line: %v", lines[1])
	}
}

func TestTicks(t *testing.T) {
	var buf syncBuf
	l := New(slog.New(slog.NewJSONHandler(&buf, nil)), 20*time.Millisecond)
	defer l.Close()
	l.Add("x")
	for deadline := time.Now().Add(5 * time.Second); len(buf.lines()) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("nothing logged after the interval")
		}
	}
	if lines := buf.lines(); len(lines) != 1 || lines[0]["count"] != float64(1) {
		t.Errorf("lines: %v", lines)
	}
}
