// Package docs checks the documentation against the program, as a new user
// reads it: every xl.cfg snippet of README.md and the man pages is
// validated (and, having devices, created in a sandbox host and destroyed),
// every command shown with its output is run and must print that output,
// the README's facts (Go version, layout) match the repository, and the
// repository refers to nothing outside itself.
//
// A snippet is meant to be valid unless its block shows `$ xfeat validate`
// printing errors: then validate must print exactly that, and create must
// refuse the file with the same messages.
package docs

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/internal/testutil"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/tests/internal/testenv"
)

// xfeatBin is the binary under test, built once by TestMain.
var xfeatBin string

func TestMain(m *testing.M) { testenv.MainWithXfeat(m, "xfeat-docs-bin", &xfeatBin) }

// top is the repository's root.
var top = filepath.Join("..", "..")

// documents are the files a user reads: README.md and every man page.
func documents(t *testing.T) (markdown, man []string) {
	t.Helper()
	man, _ = filepath.Glob(filepath.Join(top, "man", "*.[15]"))
	if len(man) == 0 {
		t.Fatal("no man pages")
	}
	return []string{filepath.Join(top, "README.md")}, man
}

func allBlocks(t *testing.T) []block {
	t.Helper()
	md, man := documents(t)
	var blocks []block
	for _, p := range md {
		blocks = append(blocks, markdownBlocks(t, p)...)
	}
	for _, p := range man {
		blocks = append(blocks, manBlocks(t, p)...)
	}
	return blocks
}

// run runs the binary in dir with NO_COLOR set and no XenStore in the
// environment.
func run(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, xfeatBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "XENSTORED_PATH=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("xfeat %v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}

// offline are the commands a document's example can run without a host.
var offline = []string{"validate", "spec", "parse", "fmt", "convert"}

// diagnostic matches an error line of validate, spec or create (not a
// warning).
var diagnostic = regexp.MustCompile(`^[^ ]+:\d+:\d+: (?:[a-z]+ #\d+: )?[^w]`)

// snippet is an xl.cfg snippet of a document and what its block shows
// validate printing ("" when it shows nothing: the snippet must be clean).
type snippet struct {
	where, name, src string
	validate         []string // lines validate prints, as shown; nil: none shown
}

// TestSnippets: every xl.cfg snippet validates as the document says (clean
// unless the document shows the errors), and every offline command shown
// prints what the document shows; `xfeat spec` examples must succeed.
// Snippets are collected for TestSnippetsCreate.
func TestSnippets(t *testing.T) {
	for _, sn := range collect(t) {
		dir := t.TempDir()
		p := filepath.Join(dir, sn.name)
		if err := os.WriteFile(p, []byte(whole(sn.src)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := run(t, dir, "validate", sn.name)
		switch {
		case sn.validate == nil && (code != 0 || out != "" || errOut != ""):
			t.Errorf("%s: the snippet does not validate cleanly (exit %d):\n%s%s\n%s", sn.where, code, out, errOut, sn.src)
		case sn.validate != nil && (code != 1 || strings.TrimSuffix(out, "\n") != strings.Join(sn.validate, "\n") || errOut != ""):
			t.Errorf("%s: xfeat validate %s printed (exit %d) on stdout\n%s\non stderr\n%s\nthe document shows\n%s", sn.where, sn.name, code, out, errOut, strings.Join(sn.validate, "\n"))
		}
	}
}

// whole makes a file of a snippet that shows only devices: a name, which
// xl and xfeat require, appended so that positions in the snippet stay.
func whole(src string) string {
	if f, _ := parser.Parse("snippet.cfg", []byte(src), parser.Options{}); f == nil || f.Lookup("name") != nil {
		return src
	}
	if src != "" && !strings.HasSuffix(src, "\n") {
		src += "\n"
	}
	return src + "name = \"docs\"\n"
}

// collect returns the snippets of every document and runs the commands the
// blocks show (a test of their own).
func collect(t *testing.T) []snippet {
	t.Helper()
	var snippets []snippet
	configs, commands := 0, 0
	for _, b := range allBlocks(t) {
		cfg, name, cmds := parseBlock(t, b)
		sn := snippet{where: b.where, name: name, src: cfg}
		dir := t.TempDir()
		if cfg != "" {
			configs++
			if err := os.WriteFile(filepath.Join(dir, name), []byte(whole(cfg)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range cmds {
			if len(c.args) == 0 || !slices.Contains(offline, c.args[0]) {
				continue // a pipeline, or a command that needs a host (tests/e2e runs those)
			}
			if c.args[0] == "validate" && cfg != "" && len(c.args) == 2 && c.args[1] == name {
				sn.validate = c.output
				if sn.validate == nil {
					sn.validate = []string{}
				}
				continue // checked with the snippet
			}
			if !c.prompt && c.args[0] != "spec" {
				continue // names a file the document does not give
			}
			commands++
			out, errOut, code := run(t, dir, c.args...)
			shown := strings.Join(c.output, "\n")
			got := strings.TrimSuffix(out+errOut, "\n")
			wantCode := 0
			for _, l := range c.output {
				if diagnostic.MatchString(l) {
					wantCode = 1
				}
			}
			ok := code == wantCode
			if c.prompt {
				if prefix, cut := strings.CutSuffix(shown, "..."); cut {
					ok = ok && strings.HasPrefix(got, prefix)
				} else {
					ok = ok && got == shown
				}
			}
			if !ok {
				t.Errorf("%s: xfeat %q: exit %d (want %d), printed\n%s\nthe document shows\n%s", b.where, c.args, code, wantCode, got, shown)
			}
		}
		if cfg != "" {
			snippets = append(snippets, sn)
		}
	}
	// The documents hold at least the README's three and the man page's
	// examples: finding none means the extraction broke, not the docs.
	if configs < 4 || commands < 4 {
		t.Errorf("found %d config snippets and %d commands to run: the extraction is broken", configs, commands)
	}
	return snippets
}

// TestSnippetsCreate creates, in a sandbox host, every snippet that has a
// device (named docsN when it has no name; each disk target replaced by a
// fresh image), waits for every device to connect and destroys it. A
// snippet shown invalid must be refused by create with the messages
// validate printed.
func TestSnippetsCreate(t *testing.T) {
	h := testenv.StartHost(t, "xfdoc", testenv.HostConfig())
	created := 0
	for i, sn := range collect(t) {
		f, diags := parser.Parse(sn.name, []byte(sn.src), parser.Options{})
		if f == nil || diags.HasErrors() {
			if sn.validate == nil {
				t.Errorf("%s: does not parse: %v", sn.where, diags)
			}
			continue
		}
		cfg, _ := devspec.CheckFile(f)
		if len(cfg.Vifs)+len(cfg.Disks) == 0 {
			continue
		}
		src := sn.src
		for _, d := range cfg.Disks {
			if d.Target != nil && *d.Target != "" {
				src = strings.ReplaceAll(src, *d.Target, testutil.Image(t, 16<<20))
			}
		}
		name := "docs" + string(rune('a'+i))
		if s := f.Lookup("name"); s != nil && s.Value != nil && s.Value.Kind == parser.KindString {
			name = s.Value.Str
		} else {
			src = "name = \"" + name + "\"\n" + src
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, sn.name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := run(t, dir, "create", sn.name, "--xenstore", h.Socket(), "--wait", "20s")
		if sn.validate != nil && len(sn.validate) > 0 {
			for _, l := range sn.validate {
				if code != 1 || !strings.Contains(errOut, l) {
					t.Errorf("%s: create: exit %d, want 1 with %q on stderr:\n%s", sn.where, code, l, errOut)
				}
			}
			continue
		}
		if code != 0 {
			t.Errorf("%s: create: exit %d\n%s%s\n%s", sn.where, code, out, errOut, src)
			continue
		}
		created++
		if want := len(cfg.Vifs) + len(cfg.Disks); strings.Count(out, "\tConnected\tConnected\n") != want {
			t.Errorf("%s: create: want %d devices Connected:\n%s", sn.where, want, out)
		}
		if _, errOut, code := run(t, dir, "destroy", name, "--xenstore", h.Socket()); code != 0 {
			t.Errorf("%s: destroy %s: exit %d\n%s", sn.where, name, code, errOut)
		}
	}
	if created < 3 {
		t.Errorf("created %d snippets: the README's and xfeat-requests(5)'s should all be whole configs", created)
	}
}

// TestRequestsPageListsEveryFeature: xfeat-requests(5) names every
// shorthand and every feature of the protocol rules, which validate's
// errors refer the reader to.
func TestRequestsPageListsEveryFeature(t *testing.T) {
	shown := strings.Join(renderMan(t, filepath.Join(top, "man", "xfeat-requests.5")), "\n")
	for _, typ := range []pv.Kind{pv.Vif, pv.Vbd} {
		names := devspec.ShorthandKeys(typ)
		for _, r := range schema.Rules(typ) {
			names = append(names, r.Feature)
		}
		for _, n := range names {
			if !regexp.MustCompile(`(^|[\s(,])` + regexp.QuoteMeta(n) + `($|[\s),.;=])`).MatchString(shown) {
				t.Errorf("xfeat-requests(5) does not name the %s feature %s", typ, n)
			}
		}
	}
}

// TestReadmeFacts: what the README says about the repository is true: the
// Go version is go.mod's, and the layout names every top-level directory.
func TestReadmeFacts(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(top, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(top, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if m == nil || !bytes.Contains(readme, []byte("Go "+string(m[1])+" ")) {
		t.Errorf("README does not say the Go version go.mod needs (%s)", m[1])
	}
	_, layout, ok := strings.Cut(string(readme), "\n## Layout\n")
	if !ok {
		t.Fatal("README has no Layout section")
	}
	layout, _, _ = strings.Cut(layout, "\n## ")
	entries, err := os.ReadDir(top)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == ".git" || e.Name() == "bin" {
			continue
		}
		if !regexp.MustCompile(`(?m)^    ` + regexp.QuoteMeta(e.Name()) + `[/ ]`).MatchString(layout) {
			t.Errorf("README's Layout does not list %s/", e.Name())
		}
	}
}

// outside are references to what is not in the repository: documents of
// the project's own workspace, an issue tracker's numbers, a specification
// by section.
// (Spelled so that this line does not match itself.)
var outside = regexp.MustCompile(`\.\./shared|/work[/]|xen-[s]pec|\x{a7}|(?i:\bissue[ -]#?\d)`)

// pendingOutside are files that still read test data from outside the
// repository; they leave this list when that data is in the repository.
var pendingOutside = []string{"parser/devspec/vectors_test.go"}

// TestStandsAlone: no source, document or build file refers to anything
// outside the repository, and every relative link of a markdown file
// resolves inside it.
func TestStandsAlone(t *testing.T) {
	ls := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	ls.Dir = top
	list, err := ls.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	link := regexp.MustCompile(`\]\(([^)#\s]+)`)
	for _, rel := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		if slices.Contains(pendingOutside, rel) || strings.Contains(rel, "/testdata/fuzz/") {
			continue
		}
		src, err := os.ReadFile(filepath.Join(top, rel))
		if err != nil || bytes.IndexByte(src, 0) >= 0 {
			continue // gone from the work tree, or binary
		}
		for i, line := range strings.Split(string(src), "\n") {
			if outside.MatchString(line) {
				t.Errorf("%s:%d refers outside the repository: %s", rel, i+1, strings.TrimSpace(line))
			}
			if !strings.HasSuffix(rel, ".md") {
				continue
			}
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				abs := filepath.Join(top, filepath.Dir(rel), target)
				if r, err := filepath.Rel(top, abs); err != nil || strings.HasPrefix(r, "..") {
					t.Errorf("%s:%d links outside the repository: %s", rel, i+1, target)
				} else if _, err := os.Stat(abs); err != nil {
					t.Errorf("%s:%d links to a missing file: %s", rel, i+1, target)
				}
			}
		}
	}
}
