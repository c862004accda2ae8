// Command testrun is how make test runs go test: it runs `go test -json`
// with its own arguments, prints what plain go test would (a line per
// package, and the output of each test that failed, nothing of the tests
// that passed), and ends with one line saying which tests were skipped and
// why, so that a run on a machine without root or a tool does not pass
// silently short of tests.
//
// Usage: go run ./internal/testrun [-go GO] [go test flags] PACKAGES...
//
// Its exit status is go test's; under CI=true, where internal/testutil.Need
// fails a test that cannot run, any skip that remains (one not about the
// machine, such as a -short guard) also fails the run.
//
// Data enters as go test's JSON event stream (cmd/test2json) and leaves on
// stdout; go's own stderr (a build that cannot start) passes through.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"

	"github.com/xfeat/xfeat/internal/testutil"
)

// event is one line of go test -json (see go doc cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output events
}

// skip is one skipped test and the reason it gave.
type skip struct {
	pkg, test, reason string
}

// printer turns the event stream back into go test's plain output.
type printer struct {
	w      io.Writer
	module string              // module path, trimmed from package names in the summary
	bufs   map[string][]string // output of running tests, by package and test
	skips  []skip
	failed bool
	// verbose (go test -v): every line is printed as it comes.
	verbose bool
}

func key(pkg, test string) string { return pkg + "\x00" + test }

func (p *printer) event(e event) {
	switch e.Action {
	case "build-output":
		io.WriteString(p.w, e.Output)
	case "output":
		if p.verbose {
			io.WriteString(p.w, e.Output)
			if e.Test != "" {
				k := key(e.Package, e.Test)
				p.bufs[k] = append(p.bufs[k], e.Output) // for the skip reason
			}
			return
		}
		if e.Test == "" {
			// Package lines: ok/FAIL/no test files, and anything a
			// TestMain printed. Plain go test does not print PASS.
			if e.Output != "PASS\n" {
				io.WriteString(p.w, e.Output)
			}
			return
		}
		k := key(e.Package, e.Test)
		p.bufs[k] = append(p.bufs[k], e.Output)
	case "fail":
		p.failed = true
		if e.Test == "" {
			p.flushPackage(e.Package)
			return
		}
		p.print(key(e.Package, e.Test))
	case "pass":
		if e.Test == "" {
			p.flushPackage(e.Package)
			return
		}
		delete(p.bufs, key(e.Package, e.Test))
	case "skip":
		if e.Test == "" {
			p.flushPackage(e.Package)
			return
		}
		k := key(e.Package, e.Test)
		p.skips = append(p.skips, skip{e.Package, e.Test, reason(p.bufs[k])})
		delete(p.bufs, k)
	}
}

func (p *printer) print(k string) {
	if p.verbose {
		delete(p.bufs, k) // printed already
		return
	}
	for _, l := range p.bufs[k] {
		// Plain go test prints no === RUN/PAUSE/CONT lines; -json does,
		// and each test's output is already grouped here.
		if !strings.HasPrefix(l, "=== ") {
			io.WriteString(p.w, l)
		}
	}
	delete(p.bufs, k)
}

// flushPackage prints the output of tests of pkg that never ended (a
// timeout or a crash ends the binary under them).
func (p *printer) flushPackage(pkg string) {
	var ks []string
	for k := range p.bufs {
		if strings.HasPrefix(k, pkg+"\x00") {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	for _, k := range ks {
		p.print(k)
	}
}

// reason is the last message a skipped test printed (its t.Skip text),
// without the file:line prefix.
func reason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- ") {
			continue
		}
		if file, rest, ok := strings.Cut(l, ": "); ok && strings.Contains(file, ".go:") && !strings.Contains(file, " ") {
			l = rest
		}
		return l
	}
	return "no reason given"
}

// summary is the one line about skipped tests: grouped by what they need
// (the "needs WHAT" of testutil.Need) or by their message, with the
// packages they are in.
func (p *printer) summary() string {
	if len(p.skips) == 0 {
		return "testrun: no test skipped"
	}
	type group struct {
		n    int
		pkgs []string
	}
	groups := map[string]*group{}
	var order []string
	for _, s := range p.skips {
		why := s.reason
		if strings.HasPrefix(why, testutil.SkipPrefix) {
			why, _, _ = strings.Cut(why, ":")
		}
		g := groups[why]
		if g == nil {
			g = &group{}
			groups[why] = g
			order = append(order, why)
		}
		g.n++
		pkg := strings.TrimPrefix(strings.TrimPrefix(s.pkg, p.module), "/")
		if pkg == "" {
			pkg = s.pkg
		}
		g.pkgs = append(g.pkgs, pkg)
	}
	parts := make([]string, 0, len(order))
	for _, why := range order {
		g := groups[why]
		parts = append(parts, fmt.Sprintf("%d for %q (%s)", g.n, why, strings.Join(uniqSorted(g.pkgs), ", ")))
	}
	tests := "tests"
	if len(p.skips) == 1 {
		tests = "test"
	}
	return fmt.Sprintf("testrun: %d %s skipped: %s", len(p.skips), tests, strings.Join(parts, "; "))
}

func uniqSorted(ss []string) []string {
	out := append([]string(nil), ss...)
	sort.Strings(out)
	return slices.Compact(out)
}

// copyEvents feeds every JSON line of r to p; a line that is not an event
// (go test prints some errors before any test runs) is printed as is.
func copyEvents(r io.Reader, p *printer) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(p.w, "%s\n", line)
			continue
		}
		p.event(e)
	}
	return sc.Err()
}

func main() {
	args := os.Args[1:]
	gocmd := "go"
	if len(args) >= 2 && args[0] == "-go" {
		gocmd, args = args[1], args[2:]
	}
	os.Exit(run(gocmd, "", args, os.Stdout, os.Stderr))
}

// run runs go test -json args in dir ("": the current directory) and
// returns the exit status.
func run(gocmd, dir string, args []string, stdout, stderr io.Writer) int {
	module := ""
	list := exec.Command(gocmd, "list", "-m")
	list.Dir = dir
	if out, err := list.Output(); err == nil {
		module = strings.TrimSpace(string(out))
	}
	cmd := exec.Command(gocmd, append([]string{"test", "-json"}, args...)...)
	cmd.Dir = dir
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(stderr, "testrun:", err)
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "testrun:", err)
		return 1
	}
	p := &printer{w: stdout, module: module, bufs: map[string][]string{}}
	for _, a := range args {
		if a == "-v" || a == "-test.v" || a == "-v=true" {
			p.verbose = true
		}
	}
	rerr := copyEvents(out, p)
	werr := cmd.Wait()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(werr, &ee):
		code = ee.ExitCode()
	case werr != nil:
		fmt.Fprintln(stderr, "testrun:", werr)
		code = 1
	}
	if rerr != nil {
		fmt.Fprintln(stderr, "testrun: reading go test's output:", rerr)
		code = max(code, 1)
	}
	if code == 0 && p.failed {
		code = 1 // cannot happen with go test; never pass a failure
	}
	line := p.summary()
	if testutil.CI() && len(p.skips) > 0 {
		fmt.Fprintln(stdout, "FAIL", line, "(CI=true: no test may be skipped)")
		return max(code, 1)
	}
	fmt.Fprintln(stdout, line)
	return code
}
