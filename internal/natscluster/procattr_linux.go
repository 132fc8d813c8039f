package natscluster

import (
	"os/exec"
	"syscall"
)

// setProcAttr has the kernel kill cmd when the calling process dies, so
// that a test killed without a chance to clean up leaves no server
// running, and puts cmd in a process group of its own (a Ctrl-C on the
// terminal reaches only the test, which stops the servers itself).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
