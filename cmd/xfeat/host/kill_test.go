package host

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
)

// syscallKill0 reports whether pid is alive: an error when it is gone or a
// zombie (an orphan's zombie stays until init reaps it, which a container's
// init may never do).
func syscallKill0(pid int) error {
	if err := syscall.Kill(pid, 0); err != nil {
		return err
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return err
	}
	if i := bytes.LastIndexByte(st, ')'); i > 0 && i+2 < len(st) && st[i+2] == 'Z' {
		return fmt.Errorf("pid %d is a zombie", pid)
	}
	return nil
}
