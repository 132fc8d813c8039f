package main

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

// These tests check the accounting of the loops (every request issued is
// counted once, as ok or by its error code), never how fast they run: the
// windows are long enough that no request can fall outside them.

func TestClosedLoopAccounting(t *testing.T) {
	var calls atomic.Int64
	req := func(_ context.Context, _ int, _ *rand.Rand) string {
		switch calls.Add(1) % 3 {
		case 0:
			return "overloaded"
		case 1:
			return "deadlock"
		}
		return ""
	}
	w := window{warmup: 0, duration: time.Minute}
	var started, ended atomic.Bool
	w.onStart, w.onEnd = func() { started.Store(true) }, func() { ended.Store(true) }
	p := startProgress(true, "test", w.duration)
	res := closedLoop(context.Background(), 4, w, 30, time.Millisecond, p, req)
	p.end()
	if calls.Load() != 30 {
		t.Fatalf("%d requests sent, want -max-requests 30", calls.Load())
	}
	if n := res.ok + res.errors["overloaded"] + res.errors["deadlock"]; n != 30 || len(res.errors) != 2 {
		t.Errorf("ok %d, errors %v: %d counted, want 30", res.ok, res.errors, n)
	}
	if res.ok != 10 || res.errors["overloaded"] != 10 || res.errors["deadlock"] != 10 {
		t.Errorf("ok %d, errors %v; want 10 of each", res.ok, res.errors)
	}
	if res.hist.TotalCount() != res.ok {
		t.Errorf("%d latencies recorded for %d successful requests", res.hist.TotalCount(), res.ok)
	}
	// The window opens once onStart returned, a moment after start.
	if res.elapsed > w.duration || res.elapsed < w.duration-time.Second {
		t.Errorf("elapsed %v, want the window %v (less the moment onStart took)", res.elapsed, w.duration)
	}
	if got := p.ok.Load() + p.err.Load(); got != 30 {
		t.Errorf("progress counted %d, want 30", got)
	}
	if !started.Load() || ended.Load() {
		t.Errorf("window start called %v, end called %v (the window had not ended)", started.Load(), ended.Load())
	}
}

func TestOpenLoopAccounting(t *testing.T) {
	for _, c := range []struct {
		name   string
		rate   float64
		maxReq int64
		want   int64
	}{
		// 800 requests/s for 62.5 ms (exact in binary) is 50 requests, all
		// due in the window.
		{"rate", 800, 1000, 50},
		{"max requests", 800, 20, 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			var calls atomic.Int64
			req := func(_ context.Context, _ int, _ *rand.Rand) string {
				if calls.Add(1)%5 == 0 {
					return "overloaded"
				}
				return ""
			}
			w := window{duration: 62500 * time.Microsecond}
			p := startProgress(true, "test", w.duration)
			res := openLoop(context.Background(), c.rate, 4, w, c.maxReq, time.Minute, p, req)
			p.end()
			if calls.Load() != c.want {
				t.Errorf("%d requests sent, want %d", calls.Load(), c.want)
			}
			if res.ok+res.errors["overloaded"] != c.want || len(res.errors) != 1 || res.errors["overloaded"] != c.want/5 {
				t.Errorf("ok %d, errors %v; want %d in all, %d overloaded", res.ok, res.errors, c.want, c.want/5)
			}
			if res.hist.TotalCount() != res.ok {
				t.Errorf("%d latencies recorded for %d successful requests", res.hist.TotalCount(), res.ok)
			}
		})
	}
}

func TestOpenLoopCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var calls atomic.Int64
	req := func(context.Context, int, *rand.Rand) string { calls.Add(1); return "" }
	p := startProgress(true, "test", time.Second)
	res := openLoop(ctx, 1000, 4, window{duration: time.Second}, 1e6, time.Second, p, req)
	p.end()
	if calls.Load() != 0 || res.ok != 0 {
		t.Errorf("cancelled: %d requests sent, ok %d", calls.Load(), res.ok)
	}
}

func TestTallyClamps(t *testing.T) {
	tl := newTally()
	tl.record("", 0)
	tl.record("", time.Hour)
	tl.record("timeout", time.Second)
	if tl.ok != 2 || tl.errors["timeout"] != 1 || tl.hist.TotalCount() != 2 {
		t.Fatalf("ok %d, errors %v, %d latencies", tl.ok, tl.errors, tl.hist.TotalCount())
	}
	if tl.hist.Min() != histMin || !tl.hist.ValuesAreEquivalent(tl.hist.Max(), histMax) {
		t.Errorf("latencies %d..%d µs, want clamped to %d..%d", tl.hist.Min(), tl.hist.Max(), histMin, histMax)
	}
}
