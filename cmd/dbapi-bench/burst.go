package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Burst is what the service did with many requests sent at once.
type Burst struct {
	Workload     string           `json:"workload"`
	Requests     int              `json:"requests"`
	OK           int64            `json:"ok"`
	Errors       map[string]int64 `json:"errors,omitempty"`
	Missing      int64            `json:"missing"` // no reply within the timeout
	Seconds      float64          `json:"seconds"` // until the last reply
	RSSBeforeMiB float64          `json:"rss_before_mib"`
	RSSPeakMiB   float64          `json:"rss_peak_mib"`
	RSSAfterMiB  float64          `json:"rss_after_mib"`
}

// burst publishes n requests without waiting for any answer, so all n are
// outstanding at once, then collects the replies on one subscription.
func (b *bench) burst(ctx context.Context, wl *workload, n int) *Burst {
	fmt.Fprintf(os.Stderr, "burst: %d %s requests at once\n", n, wl.name)
	res := &Burst{Workload: wl.name, Requests: n, Errors: map[string]int64{}}
	nc := b.conns[0]
	if v, ok := procRSS(b.svc.pid); ok {
		res.RSSBeforeMiB = mib(v)
	}
	inbox := nats.NewInbox()
	var mu sync.Mutex
	got := 0
	collected := false // once set, late replies are no longer counted
	done := make(chan struct{})
	var last time.Time
	count := func(code string) { // with mu held
		if code == "" {
			res.OK++
		} else {
			res.Errors[code]++
		}
		if got++; got == n {
			close(done)
		}
	}
	sub, err := nc.Subscribe(inbox+".*", func(m *nats.Msg) {
		code := replyCode(m)
		mu.Lock()
		defer mu.Unlock()
		if collected {
			return
		}
		last = time.Now()
		count(code)
	})
	if err != nil {
		res.Errors["subscribe_failed"] = int64(n)
		return res
	}
	defer sub.Unsubscribe()
	sub.SetPendingLimits(-1, -1)
	rss := sampleRSS(b.svc.pid, 10*time.Millisecond)
	r := rand.New(rand.NewPCG(3, 4))
	subject := b.o.Prefix + "." + wl.subject
	start := time.Now()
	for i := range n {
		if err := nc.PublishRequest(subject, inbox+"."+strconv.Itoa(i), wl.body(r, b.o.Accounts)); err != nil {
			mu.Lock()
			count("publish_failed")
			mu.Unlock()
		}
	}
	nc.Flush()
	timer := time.NewTimer(b.o.Timeout + 30*time.Second)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
	case <-ctx.Done():
	}
	res.RSSPeakMiB = mib(rss.end())
	mu.Lock()
	collected = true
	res.Missing = int64(n - got)
	if !last.IsZero() {
		res.Seconds = last.Sub(start).Seconds()
	}
	mu.Unlock()
	sleepCtx(ctx, time.Second)
	if v, ok := procRSS(b.svc.pid); ok {
		res.RSSAfterMiB = mib(v)
	}
	fmt.Fprintf(os.Stderr, "burst: ok %d, errors %v, missing %d, service RSS %.1f → peak %.1f MiB\n",
		res.OK, errString(res.Errors), res.Missing, res.RSSBeforeMiB, res.RSSPeakMiB)
	return res
}
