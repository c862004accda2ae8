package sandbox

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDefaultRundir(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	want := "/run/user/1000/xfeat"
	if os.Geteuid() == 0 {
		want = "/run/xfeat"
	}
	if got := DefaultRundir(); got != want {
		t.Errorf("DefaultRundir() = %q, want %q", got, want)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	if got := DefaultRundir(); got != "/run/xfeat" {
		t.Errorf("without XDG_RUNTIME_DIR: %q", got)
	}
}

func TestStartReportsAHostThatDies(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "fake-xfeat")
	// Stands in for a binary whose `host run` fails at once.
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"cannot run: $*\" >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{Rundir: filepath.Join(dir, "run"), Exe: script, Timeout: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "cannot run: host run --rundir") {
		t.Errorf("Start with a dying host: %v", err)
	}
}

func TestStopAndStatusWithoutHost(t *testing.T) {
	dir := t.TempDir()
	if err := Stop(context.Background(), dir); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Stop without a host: %v", err)
	}
	st, err := Status(context.Background(), dir)
	if err != nil || st.Running || st.PID != 0 {
		t.Errorf("Status without a host: %+v, %v", st, err)
	}
	// A stale pid file naming a live process that is not a host: neither
	// running nor signalled.
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleeper.Process.Kill()
	os.WriteFile(filepath.Join(dir, PidFileName), []byte(strconv.Itoa(sleeper.Process.Pid)+"\n"), 0o644)
	if err := Stop(context.Background(), dir); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Stop with a stale pid file: %v", err)
	}
	// Had Stop sent it a signal, the kernel would already have recorded
	// that signal as its cause of death (a fatal signal with the default
	// action ends the process when it is sent), and the SIGKILL sent now
	// would not replace it: the status says who signalled first, however
	// slowly the process dies.
	sleeper.Process.Kill()
	sleeper.Wait()
	if ws, ok := sleeper.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the unrelated process was signalled by Stop: %v", sleeper.ProcessState)
	}
}

// A host killed with SIGKILL leaves its guests' files; the next host on the
// rundir clears them before anything is introduced.
func TestNewHostClearsAKilledHostsGuests(t *testing.T) {
	dir, err := os.MkdirTemp("", "xfk")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	stale := filepath.Join(dir, "domains", "7")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Join(stale, "dom7.mem"), filepath.Join(dir, "domains", "dom7.evtchn")} {
		if err := os.WriteFile(f, []byte("stale"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h, err := New(Config{Rundir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer h.shutdown()
	if left, _ := filepath.Glob(filepath.Join(dir, "domains", "*7*")); len(left) != 0 {
		t.Errorf("stale guest files survived: %v", left)
	}
}
