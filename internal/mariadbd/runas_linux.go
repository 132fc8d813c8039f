package mariadbd

import (
	"os/exec"
	"syscall"
)

// setUser makes cmd run as u, set in the child before it executes (so
// the parent-death signal, set after, still holds; mariadbd's own --user
// would clear it).
func setUser(cmd *exec.Cmd, u *runAs) {
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: u.uid, Gid: u.gid}
}
