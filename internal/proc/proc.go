package proc

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"
)

// Command is exec.Command for a server process: it dies with the caller
// (Linux) and has a process group of its own.
func Command(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	setProcAttr(cmd)
	return cmd
}

// Process is a server process, started again and again (on the same
// data, say). Its methods are safe for concurrent use.
type Process struct {
	name string // in errors

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// New returns the process called name in errors, not started.
func New(name string) *Process { return &Process{name: name} }

// Start starts cmd (made with Command) as the process; after, when set,
// runs once it has exited (to close its log, say). It is an error while
// the process runs.
func (p *Process) Start(cmd *exec.Cmd, after func()) error {
	if p.Running() {
		return fmt.Errorf("%s is already running", p.name)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		if after != nil {
			after()
		}
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	return nil
}

// Exited is closed once the process last started has exited; nil before
// Start.
func (p *Process) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// State is how the process last started exited (nil while it runs).
func (p *Process) State() *os.ProcessState {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	return p.cmd.ProcessState
}

// PID is the process id of the process last started, 0 before Start.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running reports whether the process last started has not exited.
func (p *Process) Running() bool {
	done := p.Exited()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Signal sends sig to the process and waits up to wait for it to exit.
// Without a running process it does nothing.
func (p *Process) Signal(sig os.Signal, wait time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil {
		select {
		case <-done: // it exited meanwhile
			return nil
		default:
			return fmt.Errorf("signal %s: %w", p.name, err)
		}
	}
	select {
	case <-done:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("%s did not exit within %s of %v", p.name, wait, sig)
	}
}
