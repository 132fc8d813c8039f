package main

import (
	"os/exec"
	"syscall"
)

// setDeathSignal has the kernel kill cmd when this process dies, so that a
// benchmark killed without a chance to clean up leaves no server running,
// and puts cmd in a process group of its own, so that a Ctrl-C on the
// terminal reaches only this process, which then stops cmd in order.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
