package proc

import (
	"syscall"
	"testing"
	"time"
)

// A process starts, runs, is signalled and waits for its exit; after
// runs once it exited; it can start again.
func TestProcess(t *testing.T) {
	p := New("sleep")
	if p.Running() || p.PID() != 0 || p.Exited() != nil {
		t.Fatal("a process not started says it runs")
	}
	for round := range 2 {
		after := make(chan struct{})
		if err := p.Start(Command("sleep", "30"), func() { close(after) }); err != nil {
			t.Fatal(err)
		}
		if !p.Running() || p.PID() == 0 {
			t.Fatalf("round %d: not running after Start", round)
		}
		if err := p.Start(Command("sleep", "30"), nil); err == nil {
			t.Fatal("a second Start of a running process succeeded")
		}
		if err := p.Signal(syscall.SIGTERM, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		select {
		case <-after:
		default:
			t.Error("after did not run before Signal returned")
		}
		if p.Running() || p.State() == nil || p.State().Success() {
			t.Errorf("round %d: after SIGTERM: running %v, state %v", round, p.Running(), p.State())
		}
		if err := p.Signal(syscall.SIGKILL, time.Second); err != nil {
			t.Errorf("signalling an exited process: %v", err)
		}
	}
}
