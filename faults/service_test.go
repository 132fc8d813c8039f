//go:build linux

package faults

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// buildBank builds ./examples/bank into dir and returns the binary's path.
// The service runs as a real process so kill -9 and SIGTERM are real.
func buildBank(dir string) (string, error) {
	// go test puts its own go first in PATH.
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is needed to build the service: %w", err)
	}
	bin := filepath.Join(dir, "bank")
	cmd := exec.Command(goBin, "build", "-o", bin, "./examples/bank")
	cmd.Dir = ".." // the module root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./examples/bank: %v\n%s", err, out)
	}
	return bin, nil
}

// instance is one running bank process.
type instance struct {
	name string
	cmd  *exec.Cmd
	log  string        // its stderr
	done chan struct{} // closed when it has exited
}

// startInstance starts the bank binary with env (DBAPI_* variables) and
// waits until it logs that it is serving.
func startInstance(bin, logDir, name string, env []string) (*instance, error) {
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	in := &instance{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(in.done) }()

	deadline := time.Now().Add(time.Minute)
	for {
		if b, _ := os.ReadFile(logPath); bytes.Contains(b, []byte(`"msg":"serving"`)) {
			return in, nil
		}
		select {
		case <-in.done:
			return nil, fmt.Errorf("%s exited at start (%v):\n%s", name, cmd.ProcessState, in.tail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			in.kill()
			return nil, fmt.Errorf("%s did not serve within a minute:\n%s", name, in.tail())
		}
	}
}

// cleanEnv is the test's environment without DBAPI_* variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DBAPI_") {
			env = append(env, kv)
		}
	}
	return env
}

// tail returns the end of the instance's log.
func (in *instance) tail() string {
	b, _ := os.ReadFile(in.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

func (in *instance) exited() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

// kill kills the process with SIGKILL and waits for it.
func (in *instance) kill() {
	in.cmd.Process.Signal(syscall.SIGKILL)
	<-in.done
}

// term sends SIGTERM and waits up to wait for the process to exit; it
// kills it if it does not.
func (in *instance) term(wait time.Duration) error {
	if in.exited() {
		return nil
	}
	in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
		if code := in.cmd.ProcessState.ExitCode(); code != 0 {
			return fmt.Errorf("%s exited with %d after SIGTERM:\n%s", in.name, code, in.tail())
		}
		return nil
	case <-time.After(wait):
		return fmt.Errorf("%s did not exit within %s of SIGTERM; killed:\n%s", in.name, wait, in.dump())
	}
}

// dump makes a hung process print its goroutines (SIGQUIT: the Go
// runtime writes every goroutine's stack to stderr, the log, and exits),
// kills it if it still runs, and returns what the dump says: the
// goroutines that were not idle, with the log's tail before them.
func (in *instance) dump() string {
	before, _ := os.ReadFile(in.log)
	in.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-in.done:
	case <-time.After(5 * time.Second):
		in.kill()
	}
	b, _ := os.ReadFile(in.log)
	tail := before
	if len(tail) > 3000 {
		tail = tail[len(tail)-3000:]
	}
	var busy []string
	for _, g := range strings.Split(string(b[len(before):]), "\n\n") {
		// The goroutines in the service's own code say where it hangs;
		// the NATS client's and the runtime's loops do not.
		if strings.Contains(g, "goroutine ") && strings.Contains(g, "github.com/dbapi-dev/dbapi/") {
			busy = append(busy, g)
		}
	}
	out := strings.Join(busy, "\n\n")
	if len(out) > 60000 {
		out = out[:60000] + "\n[...]"
	}
	return string(tail) + "\ngoroutines (SIGQUIT):\n" + out
}
