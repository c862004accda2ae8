package hostlog

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The log file never grows past its bound: it is rotated to NAME.1, and a
// file already too big is rotated when opened.
func TestFileBounded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "host.log")
	if err := os.WriteFile(path, []byte(strings.Repeat("old\n", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path, 1000, false)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path + ".1"); len(b) != 4000 {
		t.Errorf("the oversized file was not rotated on open: host.log.1 has %d bytes", len(b))
	}
	for i := range 10000 {
		if err := f.WriteLine(fmt.Sprintf("line %05d %s", i, strings.Repeat("x", 30))); err != nil {
			t.Fatal(err)
		}
		if i%997 == 100 { // (by line 100 the old content is gone)
			for _, p := range []string{path, path + ".1"} {
				if st, err := os.Stat(p); err != nil || st.Size() > 1000 {
					t.Fatalf("after %d lines %s: %v, %d bytes", i+1, p, err, st.Size())
				}
			}
		}
	}
	f.WriteLine(strings.Repeat("y", 100000)) // cut, then still bounded
	f.Close()
	cur, _ := os.ReadFile(path)
	prev, _ := os.ReadFile(path + ".1")
	if !strings.Contains(string(prev), "line 09999") || !strings.HasSuffix(string(cur), "... (cut)\n") {
		t.Errorf("last lines lost: host.log.1 ends %q, host.log %d bytes", prev[max(0, len(prev)-60):], len(cur))
	}
	if len(cur) > 4*MaxLine+len("... (cut)\n") {
		t.Errorf("host.log has %d bytes", len(cur))
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("files in the directory: %v", ents)
	}
}

// A command's log line is stamped with UTC time to the millisecond.
func TestStampedToWriter(t *testing.T) {
	var b strings.Builder
	logf, done, err := Stamped("", &b)
	if err != nil {
		t.Fatal(err)
	}
	logf("vbd %d/%d: %s", 1, 51712, "connected")
	done()
	line := strings.TrimSuffix(b.String(), "\n")
	stamp, msg, _ := strings.Cut(line, " ")
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", stamp); err != nil || msg != "vbd 1/51712: connected" {
		t.Errorf("logged %q: want a UTC millisecond stamp, then the message", b.String())
	}
}
