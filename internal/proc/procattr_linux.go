package proc

import (
	"os/exec"
	"syscall"
)

// setProcAttr has the kernel kill cmd when the calling process dies, and
// puts cmd in a process group of its own.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
