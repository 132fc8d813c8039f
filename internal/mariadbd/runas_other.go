//go:build !linux

package mariadbd

import "os/exec"

// setUser has mariadbd switch to u itself (--user).
func setUser(cmd *exec.Cmd, u *runAs) { cmd.Args = append(cmd.Args, "--user="+u.name) }
