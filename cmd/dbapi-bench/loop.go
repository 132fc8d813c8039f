package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to 2 minutes, with 3
// significant digits.
const (
	histMin    = 1
	histMax    = int64(2 * time.Minute / time.Microsecond)
	histDigits = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histDigits) }

// maxBackoff caps a closed-loop client's backoff, in units of -overload-wait.
const maxBackoff = 32

// request sends one request for worker i and returns "" or an error code.
type request func(ctx context.Context, i int, r *rand.Rand) string

// levelRun is what one level of one mode measured.
type levelRun struct {
	hist    *hdrhistogram.Histogram // latency of successful requests, µs
	ok      int64
	errors  map[string]int64
	elapsed time.Duration // measured window
}

// tally is one worker's counts.
type tally struct {
	hist   *hdrhistogram.Histogram
	ok     int64
	errors map[string]int64
}

func newTally() *tally { return &tally{hist: newHist(), errors: map[string]int64{}} }

func (t *tally) record(code string, lat time.Duration) {
	if code != "" {
		t.errors[code]++
		return
	}
	t.ok++
	us := lat.Microseconds()
	if us < histMin {
		us = histMin
	}
	if us > histMax {
		us = histMax
	}
	t.hist.RecordValue(us)
}

func merge(tallies []*tally, elapsed time.Duration) levelRun {
	out := levelRun{hist: newHist(), errors: map[string]int64{}, elapsed: elapsed}
	for _, t := range tallies {
		out.hist.Merge(t.hist)
		out.ok += t.ok
		for k, v := range t.errors {
			out.errors[k] += v
		}
	}
	return out
}

// progress prints a line every two seconds while a level runs.
type progress struct {
	label   string
	ok, err atomic.Int64
	stop    chan struct{}
	done    sync.WaitGroup
}

func startProgress(quiet bool, label string, total time.Duration) *progress {
	p := &progress{label: label, stop: make(chan struct{})}
	if quiet {
		return p
	}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		start := time.Now()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				fmt.Fprintf(os.Stderr, "  %-32s %4.0fs/%.0fs  ok %-8d errors %d\n", p.label,
					time.Since(start).Seconds(), total.Seconds(), p.ok.Load(), p.err.Load())
			}
		}
	}()
	return p
}

func (p *progress) count(code string) {
	if code == "" {
		p.ok.Add(1)
	} else {
		p.err.Add(1)
	}
}

func (p *progress) end() {
	close(p.stop)
	p.done.Wait()
}

// window is the measured part of a level: after the warm-up, for the
// duration. onStart, when set, is called as the window opens and onEnd as
// it closes (to read the service's CPU time and the servers' counters).
type window struct {
	warmup, duration time.Duration
	onStart, onEnd   func()
}

// timer starts the window's timers from start. measureFrom is when the
// window opens by the clock (the open loop's schedule); opened returns when
// onStart had returned (zero before), which is when a closed loop starts
// counting: onStart reads the servers' counters, which takes a moment on a
// loaded machine, and a request answered meanwhile may have committed
// before the read, so counting it would make the counters look short.
func (w window) timer(start time.Time) (measureFrom time.Time, opened func() time.Time, end time.Time, stop func()) {
	measureFrom, end = start.Add(w.warmup), start.Add(w.warmup+w.duration)
	var at atomic.Int64
	open := func() {
		if w.onStart != nil {
			w.onStart()
		}
		at.Store(time.Now().UnixNano())
	}
	stop1 := func() bool { return false }
	if w.warmup > 0 {
		stop1 = time.AfterFunc(w.warmup, open).Stop
	} else {
		open() // before the first request
	}
	opened = func() time.Time {
		if ns := at.Load(); ns != 0 {
			return time.Unix(0, ns)
		}
		return time.Time{}
	}
	t2 := time.AfterFunc(w.warmup+w.duration, func() {
		if w.onEnd != nil {
			w.onEnd()
		}
	})
	return measureFrom, opened, end, func() { stop1(); t2.Stop() }
}

// closedLoop runs n clients, each sending its next request when the last
// is answered, for warmup+duration. A request counts when it completes in
// the measured window. A client answered "overloaded" backs off before its
// next request, as a well-behaved client would: a jittered overloadWait,
// doubling with each 503 in a row up to maxBackoff times overloadWait.
func closedLoop(ctx context.Context, n int, w window, maxReq int64, overloadWait time.Duration, p *progress, req request) levelRun {
	start := time.Now()
	_, opened, end, stopTimers := w.timer(start)
	defer stopTimers()
	tallies := make([]*tally, n)
	var issued atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		tallies[i] = newTally()
		wg.Add(1)
		go func(i int, t *tally) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(i)))
			backoff := overloadWait
			for ctx.Err() == nil && issued.Add(1) <= maxReq {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				code := req(ctx, i, r)
				t1 := time.Now()
				p.count(code)
				if from := opened(); !from.IsZero() && !t1.Before(from) && !t1.After(end) {
					t.record(code, t1.Sub(t0))
				}
				if code != "overloaded" {
					backoff = overloadWait
				} else if overloadWait > 0 {
					sleepCtx(ctx, time.Duration(float64(backoff)*(0.5+r.Float64())))
					backoff = min(2*backoff, maxBackoff*overloadWait)
				}
			}
		}(i, tallies[i])
	}
	wg.Wait()
	elapsed := w.duration
	if from := opened(); !from.IsZero() {
		elapsed = max(end.Sub(from), 0)
	}
	return merge(tallies, elapsed)
}

// openLoop sends requests at a fixed rate for warmup+duration, from at most
// maxOut workers. Each latency runs from the moment the request was due, so
// time spent waiting for a free worker counts. A request counts when it was
// due in the measured window. Requests still waiting when the drain time
// is over are counted as "not_sent"; requests that found no room in the
// schedule as "client_backlog".
func openLoop(ctx context.Context, rate float64, maxOut int, w window, maxReq int64, drain time.Duration, p *progress, req request) levelRun {
	total := int64(rate * (w.warmup + w.duration).Seconds())
	total = min(total, maxReq)
	sched := make(chan time.Time, min(total, 1<<20)+1)
	start := time.Now()
	from, _, end, stopTimers := w.timer(start)
	defer stopTimers()
	deadline := end.Add(drain)
	tallies := make([]*tally, maxOut+1)
	var wg sync.WaitGroup
	for i := range maxOut {
		tallies[i] = newTally()
		wg.Add(1)
		go func(i int, t *tally) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(i)))
			for due := range sched {
				measured := !due.Before(from) && due.Before(end)
				if ctx.Err() != nil || time.Now().After(deadline) {
					if measured {
						t.errors["not_sent"]++
					}
					continue
				}
				code := req(ctx, i, r)
				p.count(code)
				if measured {
					t.record(code, time.Since(due))
				}
			}
		}(i, tallies[i])
	}
	sched0 := newTally()
	tallies[maxOut] = sched0
	interval := float64(time.Second) / rate
	for i := int64(0); i < total && ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(float64(i) * interval))
		if d := time.Until(due); d > 0 {
			sleepCtx(ctx, d)
		}
		select {
		case sched <- due:
		default:
			sched0.errors["client_backlog"]++
		}
	}
	close(sched)
	wg.Wait()
	return merge(tallies, w.duration)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
