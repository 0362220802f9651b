//go:build linux

package localaws

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup makes the child the leader of a new process group so that
// killGroup reaches anything it spawns, and has the kernel kill it if this
// process dies without calling Close (a test binary killed on timeout).
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills the child's process group.
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		return cmd.Process.Kill()
	}
	return nil
}
