package mariadbd

import (
	"os/exec"
	"syscall"
)

// setProcAttr has the kernel kill cmd when the calling process dies, so
// that a caller killed without a chance to clean up leaves no server
// running, and puts cmd in a process group of its own.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// setUser makes cmd run as u, set in the child before it executes (so
// the parent-death signal, set after, still holds; mariadbd's own --user
// would clear it).
func setUser(cmd *exec.Cmd, u *runAs) {
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: u.uid, Gid: u.gid}
}
