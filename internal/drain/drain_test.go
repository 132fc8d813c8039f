package drain_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/dbapi-dev/dbapi/internal/drain"
	"github.com/dbapi-dev/dbapi/internal/natstest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestWait(t *testing.T) {
	t.Run("work ends within the grace period: nothing is cut off", func(t *testing.T) {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { time.Sleep(10 * time.Millisecond); wg.Done() }()
		cancelled := false
		drain.Wait(context.Background(), &wg, func() { cancelled = true }, quiet, "grace over")
		if cancelled {
			t.Error("cancel called though the work ended by itself")
		}
	})
	t.Run("grace period over: cut off, and waited for", func(t *testing.T) {
		run, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		finished := false
		wg.Add(1)
		go func() { <-run.Done(); finished = true; wg.Done() }()
		grace, stop := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer stop()
		drain.Wait(grace, &wg, cancel, quiet, "grace over")
		if !finished {
			t.Error("Wait returned before the work it cut off had finished")
		}
	})
}

func TestFlush(t *testing.T) {
	nc := natstest.Connect(t, natstest.URL(t))
	if err := drain.Flush(nc); err != nil {
		t.Errorf("open connection: %v", err)
	}
	nc.Close()
	if err := drain.Flush(nc); err != nil {
		t.Errorf("closed connection: %v, want none", err)
	}
}
