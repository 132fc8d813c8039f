package health

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Interval is how often a Monitor checks the database.
const Interval = time.Second

// CheckTimeout bounds one check.
const CheckTimeout = 2 * time.Second

// Pausable is a transport that can stop taking requests and take them
// again (consumer.Service leaves and rejoins the queue group;
// durable.Service stops and resumes fetching).
type Pausable interface {
	Pause() error
	Resume() error
}

// Monitor checks the database every Interval, keeps the last result for
// readiness, and pauses its transports once the database has been
// unhealthy for PauseAfter, resuming them at the first healthy check.
type Monitor struct {
	check      func(context.Context) error
	pauseAfter time.Duration
	targets    []Pausable
	log        *slog.Logger

	mu     sync.Mutex
	err    error     // the last check's result
	since  time.Time // when the last check's state (healthy or not) began
	paused bool

	stop chan struct{}
	done chan struct{}
}

// NewMonitor returns a Monitor of check that pauses targets once the
// database has been unhealthy for pauseAfter (0: never). Start it with
// Start.
func NewMonitor(check func(context.Context) error, pauseAfter time.Duration, log *slog.Logger, targets ...Pausable) *Monitor {
	return &Monitor{check: check, pauseAfter: pauseAfter, targets: targets, log: log,
		err: errNotChecked, since: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
}

// Start checks once, then every Interval until Stop.
func (m *Monitor) Start() {
	m.Tick()
	go func() {
		defer close(m.done)
		t := time.NewTicker(Interval)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
			m.Tick()
		}
	}()
}

// Stop stops checking; the transports stay as they are (paused or not).
func (m *Monitor) Stop() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
}

// Tick checks once, and pauses or resumes the transports as the result
// says. Start calls it every Interval.
func (m *Monitor) Tick() {
	ctx, cancel := context.WithTimeout(context.Background(), CheckTimeout)
	err := m.check(ctx)
	cancel()
	now := time.Now()

	m.mu.Lock()
	wasHealthy := m.err == nil
	if (err == nil) != wasHealthy || m.err == errNotChecked {
		m.since = now
	}
	m.err = err
	unhealthyFor := now.Sub(m.since)
	pause := err != nil && !m.paused && m.pauseAfter > 0 && unhealthyFor >= m.pauseAfter
	resume := err == nil && m.paused
	m.mu.Unlock()

	switch {
	case err != nil && wasHealthy:
		m.log.Warn("database unhealthy", "err", err)
	case err == nil && !wasHealthy:
		m.log.Info("database healthy")
	}
	if pause {
		m.log.Warn("database unhealthy for "+unhealthyFor.Round(time.Millisecond).String()+": this instance stops taking requests until it is healthy again", "err", err)
		m.setPaused(true, (Pausable).Pause)
	}
	if resume {
		m.log.Info("database healthy again: this instance takes requests again")
		m.setPaused(false, (Pausable).Resume)
	}
}

// setPaused calls f on every target, and records paused if they all
// succeeded (otherwise the next tick tries again).
func (m *Monitor) setPaused(paused bool, f func(Pausable) error) {
	ok := true
	for _, t := range m.targets {
		if err := f(t); err != nil {
			ok = false
			m.log.Error("pausing or resuming a transport failed; trying again at the next check", "paused", paused, "err", err)
		}
	}
	if ok {
		m.mu.Lock()
		m.paused = paused
		m.mu.Unlock()
	}
}

// Ready returns nil while the database was healthy at the last check,
// else why not, saying since when and whether the instance stopped taking
// requests: what /readyz reports.
func (m *Monitor) Ready(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err == nil {
		return nil
	}
	d := time.Since(m.since).Round(time.Second)
	if m.paused {
		return fmt.Errorf("%w (for %s; paused: not taking requests)", m.err, d)
	}
	return fmt.Errorf("%w (for %s)", m.err, d)
}

// Paused reports whether the monitor has paused the transports.
func (m *Monitor) Paused() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.paused
}
