//go:build !linux

package mariadbd

import "os/exec"

// setProcAttr does nothing where there is no parent-death signal.
func setProcAttr(*exec.Cmd) {}

// setUser has mariadbd switch to u itself (--user).
func setUser(cmd *exec.Cmd, u *runAs) { cmd.Args = append(cmd.Args, "--user="+u.name) }
