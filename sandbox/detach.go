package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// Files of a host in its rundir.
const (
	SocketName  = "socket"
	PidFileName = "host.pid"
	LogFileName = "host.log"
)

// DefaultRundir is where the sandbox host runs when neither --rundir nor
// XENSTORED_PATH says (see Rundir): $XDG_RUNTIME_DIR/xfeat for a user other
// than root with a runtime dir, else /run/xfeat.
func DefaultRundir() string {
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" && os.Geteuid() != 0 {
		return filepath.Join(x, "xfeat")
	}
	return "/run/xfeat"
}

// Options says how to start a detached host.
type Options struct {
	Rundir string // "": the one Rundir finds
	// Exe is the xfeat binary to run; "" means this process's executable.
	Exe string
	// Args are extra flags for `xfeat host run` (backend limits).
	Args []string
	// Timeout bounds the wait for the socket to answer; 0 means 10 s.
	Timeout time.Duration
}

// ErrNotRunning is returned by Stop when no host runs in the rundir.
var ErrNotRunning = errors.New("no sandbox host is running")

// Answers reports whether a XenStore answers on socket.
func Answers(ctx context.Context, socket string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := xsclient.Dial(ctx, socket)
	if err != nil {
		return false
	}
	defer c.Close()
	_, err = c.GetDomainPath(ctx, 0)
	return err == nil
}

// Start starts `xfeat host run --rundir DIR --log-file DIR/host.log`
// detached from this process (its own session, stdio to DIR/host.log too)
// and waits until DIR/socket answers;
// it returns the socket. If a XenStore already answers there, Start returns
// its socket and starts nothing.
func Start(ctx context.Context, opts Options) (string, error) {
	dir, _ := Rundir(opts.Rundir)
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	sock := filepath.Join(dir, SocketName)
	if Answers(ctx, sock) {
		return sock, nil
	}
	exe := opts.Exe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	logPath := filepath.Join(dir, LogFileName)
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	defer logf.Close()
	logStart, _ := logf.Seek(0, 2)
	null, err := os.Open(os.DevNull)
	if err != nil {
		return "", err
	}
	defer null.Close()
	// The host writes its log itself, bounded (--log-file); the file is
	// its standard output and error from the start too, so that a host
	// failing before it logs anything still says why there.
	cmd := exec.Command(exe, append([]string{"host", "run", "--rundir", dir, "--log-file", logPath}, opts.Args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("sandbox: starting %s: %w", exe, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // reaps it if it ends while we live
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case err := <-exited:
			return "", fmt.Errorf("sandbox: the host exited (%v) before answering on %s:\n%s", err, sock, logTail(logPath, logStart))
		case <-deadline.C:
			return "", fmt.Errorf("sandbox: the host (pid %d) did not answer on %s within %s; see %s", cmd.Process.Pid, sock, timeout, logPath)
		case <-tick.C:
			if Answers(ctx, sock) {
				return sock, nil
			}
		}
	}
}

func logTail(path string, from int64) string {
	b, err := os.ReadFile(path)
	if err != nil || from > int64(len(b)) {
		return ""
	}
	return strings.TrimSpace(string(b[from:]))
}

// HostStatus is what Status reports of a rundir.
type HostStatus struct {
	Running bool
	PID     int // 0 when no live host owns the pid file
	Rundir  string
	Socket  string
	// Domains are the domain ids under /local/domain (0 included), when
	// the socket answers.
	Domains []uint32
}

// readPid returns the pid in DIR/host.pid if that process is alive.
func readPid(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, PidFileName))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0
	}
	// A zombie (our own child that ended) is not running.
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := bytes.LastIndexByte(st, ')'); i > 0 && i+2 < len(st) && st[i+2] == 'Z' {
			return 0
		}
	}
	// A stale pid file may name a pid reused by some other program: only
	// a process running `... host run` is the host (Stop signals it).
	if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		if !bytes.Contains(cmd, []byte("\x00host\x00run")) && pid != os.Getpid() {
			return 0
		}
	}
	return pid
}

// Status reports whether a host runs in rundir ("": the one Rundir finds).
func Status(ctx context.Context, rundir string) (HostStatus, error) {
	rundir, _ = Rundir(rundir)
	dir, err := filepath.Abs(rundir)
	if err != nil {
		return HostStatus{}, err
	}
	st := HostStatus{Rundir: dir, Socket: filepath.Join(dir, SocketName), PID: readPid(dir)}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := xsclient.Dial(ctx, st.Socket)
	if err != nil {
		return st, nil
	}
	defer c.Close()
	ids, err := c.Directory(ctx, "/local/domain")
	if err != nil && !errors.Is(err, xswire.ErrNotFound) {
		return st, nil
	}
	st.Running = st.PID != 0
	for _, s := range ids {
		if n, err := strconv.ParseUint(s, 10, 32); err == nil {
			st.Domains = append(st.Domains, uint32(n))
		}
	}
	slices.Sort(st.Domains)
	return st, nil
}

// Stop sends SIGTERM to the host of rundir ("": the one Rundir finds) and
// waits (bounded by ctx) until it has exited. It returns ErrNotRunning when
// no host runs there.
func Stop(ctx context.Context, rundir string) error {
	rundir, _ = Rundir(rundir)
	dir, err := filepath.Abs(rundir)
	if err != nil {
		return err
	}
	pid := readPid(dir)
	if pid == 0 {
		return ErrNotRunning
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return ErrNotRunning
		}
		return fmt.Errorf("sandbox: signalling pid %d: %w", pid, err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("sandbox: host pid %d still running: %w", pid, ctx.Err())
		case <-tick.C:
			if readPid(dir) != pid {
				return nil
			}
		}
	}
}

// WritePidFile records this process as the host of rundir; the returned
// func removes the file (if it still names this process).
func WritePidFile(rundir string) (func(), error) {
	path := filepath.Join(rundir, PidFileName)
	if pid := readPid(rundir); pid != 0 && pid != os.Getpid() {
		return nil, fmt.Errorf("sandbox: a host (pid %d) already runs in %s", pid, rundir)
	}
	me := strconv.Itoa(os.Getpid())
	if err := os.WriteFile(path, []byte(me+"\n"), 0o644); err != nil {
		return nil, err
	}
	return func() {
		if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == me {
			os.Remove(path)
		}
	}, nil
}
