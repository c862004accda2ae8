package hostlog

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultMaxSize bounds a log File: 4 MiB, some 40000 lines, which the
// limits above let no guest fill in less than hours.
const DefaultMaxSize = 4 << 20

// File is a log file bounded in size: a line that would take it past
// MaxSize first renames it to NAME.1 (replacing an older NAME.1) and
// starts a new, empty NAME. Safe for concurrent use.
type File struct {
	path  string
	max   int64
	stdio bool

	mu   sync.Mutex
	f    *os.File
	size int64
}

// OpenFile opens (appending) or creates the log file path, rotating it at
// once if it is already at maxSize (<= 0: DefaultMaxSize). With stdio,
// the file also becomes this process's standard output and error, now and
// after every rotation, so that what the Go runtime itself prints (a
// panic) lands in the current log too.
func OpenFile(path string, maxSize int64, stdio bool) (*File, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	lf := &File{path: path, max: maxSize, stdio: stdio}
	if err := lf.open(); err != nil {
		return nil, err
	}
	if lf.size >= lf.max {
		if err := lf.rotate(); err != nil {
			lf.f.Close()
			return nil, err
		}
	}
	return lf, nil
}

func (lf *File) open() error {
	f, err := os.OpenFile(lf.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("log: %w", err)
	}
	if lf.stdio {
		for _, fd := range []int{1, 2} {
			if err := unix.Dup3(int(f.Fd()), fd, 0); err != nil {
				f.Close()
				return fmt.Errorf("log: %s as fd %d: %w", lf.path, fd, err)
			}
		}
	}
	lf.f, lf.size = f, st.Size()
	return nil
}

// rotate renames the file to NAME.1 and opens a new one. Must hold lf.mu
// (or own lf alone).
func (lf *File) rotate() error {
	if err := os.Rename(lf.path, lf.path+".1"); err != nil {
		return fmt.Errorf("log: %w", err)
	}
	old := lf.f
	if err := lf.open(); err != nil {
		return err // old stays: lines go on to NAME.1, still bounded by the next try
	}
	old.Close()
	return nil
}

// WriteLine appends line and a newline. A line is cut to 4*MaxLine bytes,
// so the file exceeds MaxSize by less than that. Should rotating fail (the
// directory turned read-only), the file is emptied instead: the bound holds
// either way.
func (lf *File) WriteLine(line string) error {
	line = cutTo(line, 4*MaxLine)
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.size > 0 && lf.size+int64(len(line))+1 > lf.max {
		if err := lf.rotate(); err != nil {
			if terr := lf.f.Truncate(0); terr != nil {
				return terr
			}
			lf.size = 0
			n, _ := fmt.Fprintf(lf.f, "log emptied: %v\n", err)
			lf.size += int64(n)
		}
	}
	n, err := lf.f.WriteString(line + "\n")
	lf.size += int64(n)
	return err
}

// Close closes the file.
func (lf *File) Close() error {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	return lf.f.Close()
}

// Stamped returns the log function of a long-running command (xfeat host
// run, xfeat backend run): each line prefixed with the UTC time to the
// millisecond, written to the log file path (OpenFile with stdio, default
// size) or, with path "", to w. done closes the file.
func Stamped(path string, w io.Writer) (logf func(format string, args ...any), done func(), err error) {
	write := func(line string) { fmt.Fprintln(w, line) }
	done = func() {}
	if path != "" {
		lf, err := OpenFile(path, 0, true)
		if err != nil {
			return nil, nil, err
		}
		write = func(line string) { lf.WriteLine(line) }
		done = func() { lf.Close() }
	}
	logf = func(format string, args ...any) {
		write(time.Now().UTC().Format("2006-01-02T15:04:05.000Z") + " " + fmt.Sprintf(format, args...))
	}
	return logf, done, nil
}
