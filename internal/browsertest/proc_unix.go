//go:build unix

package browsertest

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts Chromium in a process group of its own, so that its
// helper processes can be stopped with it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killProcessGroup kills the process group of the Chromium this package
// started (its id is the launcher's pid).
func killProcessGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
