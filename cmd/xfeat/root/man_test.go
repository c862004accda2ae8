package root

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
)

// TestManPagesCurrent fails when man/ does not match the command tree: run
// `make man` and commit the result.
func TestManPagesCurrent(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	pages, err := ManPages()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "..", "man")
	for name, want := range pages {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("man/%s missing: run make man", name)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("man/%s is stale: run make man", name)
		}
	}
	committed, _ := filepath.Glob(filepath.Join(dir, "xfeat*.1"))
	for _, p := range committed {
		if _, ok := pages[filepath.Base(p)]; !ok {
			t.Errorf("man/%s has no command: run make man", filepath.Base(p))
		}
	}
}

// TestManPagesDateFromSource: every page carries ManDate, whatever the
// clock says, unless SOURCE_DATE_EPOCH gives another date; a bad
// SOURCE_DATE_EPOCH is an error, not a page stamped with the clock.
func TestManPagesDateFromSource(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	pages, err := ManPages()
	if err != nil {
		t.Fatal(err)
	}
	d, err := time.Parse(time.DateOnly, ManDate)
	if err != nil {
		t.Fatalf("ManDate %q: %v", ManDate, err)
	}
	want := fmt.Sprintf(`.TH "XFEAT" "1" %q`, d.Format("Jan 2006"))
	for name, b := range pages {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s: no %s line", name, want)
		}
	}

	// 2031-06-15 is far from ManDate: the pages must say Jun 2031.
	t.Setenv("SOURCE_DATE_EPOCH", "1939334400")
	pages, err = ManPages()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range pages {
		if !bytes.Contains(b, []byte(`.TH "XFEAT" "1" "Jun 2031"`)) {
			t.Errorf("%s with SOURCE_DATE_EPOCH: .TH line %q", name, bytes.SplitN(b, []byte("\n"), 3)[1])
		}
	}

	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if _, err := ManPages(); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Fatalf("bad SOURCE_DATE_EPOCH: err = %v, want one naming it", err)
	}
}

// renderMan renders a man page source as man(1) shows it, without
// formatting and with lines long enough that paragraphs are not folded.
func renderMan(t *testing.T, name string, src []byte) string {
	t.Helper()
	if _, err := exec.LookPath("man"); err != nil {
		t.Fatalf("man(1) is needed to check what the pages show (make deps installs man-db): %v", err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, src, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("man", "-l", p)
	// troff reads SOURCE_DATE_EPOCH too, and refuses the empty value the
	// tests set.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "SOURCE_DATE_EPOCH=") })
	cmd.Env = append(env, "MANWIDTH=2000", "LC_ALL=C.UTF-8", "MAN_KEEP_FORMATTING=", "MANPAGER=cat", "PAGER=cat")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("man -l %s: %v\n%s", name, err, stderr.String())
	}
	return string(out)
}

// squeeze folds every run of white space into one space.
func squeeze(s string) string { return strings.Join(strings.Fields(s), " ") }

// TestManPagesShowHelpText renders every generated page and checks that a
// reader sees each paragraph of the command's help and each flag's text as
// written: markdown must not eat <name>, *, _ or the like on the way.
func TestManPagesShowHelpText(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	pages, err := ManPages()
	if err != nil {
		t.Fatal(err)
	}
	io, _, _, _ := iostreams.Test()
	root := NewCmdRoot(&cmdutil.Factory{IO: io, Version: "devel"})
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c != root && (!c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand()) {
			return
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
		shown := squeeze(renderMan(t, name, pages[name]))
		want := []string{c.UseLine()}
		// Backtick spans and headings (cobra's completion help has some) are
		// the markdown the help text means: shown without their marks.
		long := regexp.MustCompile("(?m)^#+ ").ReplaceAllString(strings.ReplaceAll(c.Long, "`", ""), "")
		for _, para := range strings.Split(long, "\n\n") {
			want = append(want, squeeze(para))
		}
		c.NonInheritedFlags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				want = append(want, squeeze(f.Usage))
			}
		})
		for _, w := range want {
			if w != "" && !strings.Contains(shown, w) {
				t.Errorf("man/%s does not show %q", name, w)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// TestManPageNamesUnique: `man NAME` opens the page a reference means only
// when no two sections have a page of that name (man picks section 1
// first), and a hand-written page says its own name in .TH and NAME.
func TestManPageNamesUnique(t *testing.T) {
	pages, err := ManPages()
	if err != nil {
		t.Fatal(err)
	}
	all, _ := filepath.Glob(filepath.Join("..", "..", "..", "man", "*.[0-9]"))
	seen := map[string]string{}
	for name := range pages {
		seen[strings.TrimSuffix(name, ".1")] = name
	}
	for _, p := range all {
		file := filepath.Base(p)
		if _, generated := pages[file]; generated {
			continue
		}
		ext := filepath.Ext(file)
		name := strings.TrimSuffix(file, ext)
		if other, dup := seen[name]; dup {
			t.Errorf("man/%s and man/%s share the name %s: `man %s` opens only one of them", file, other, name, name)
		}
		seen[name] = file
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		th := fmt.Sprintf(".TH %s %s ", strings.ToUpper(name), ext[1:])
		nameLine := strings.ReplaceAll(name, "-", `\-`) + ` \- `
		if !bytes.Contains(src, []byte("\n"+th)) || !bytes.Contains(src, []byte("\n.SH NAME\n"+nameLine)) {
			t.Errorf("man/%s: want a %q line and NAME %q", file, th, nameLine)
		}
	}
}

// TestRootPageSections: xfeat(1) has the sections a reader looks for, and
// its ENVIRONMENT lists exactly the variables the code reads (found in the
// source: os.Getenv and os.LookupEnv outside tests; man.go's
// SOURCE_DATE_EPOCH is read by `make man`, not by xfeat).
func TestRootPageSections(t *testing.T) {
	pages, err := ManPages()
	if err != nil {
		t.Fatal(err)
	}
	shown := renderMan(t, "xfeat.1", pages["xfeat.1"])
	for _, want := range []string{"\nEXIT STATUS\n", "\nENVIRONMENT\n", "\nFILES\n", "xfeat-requests(5)", "config-<name>"} {
		if !strings.Contains(shown, want) {
			t.Errorf("xfeat(1) has no %q:\n%s", want, shown)
		}
	}

	documented := map[string]bool{}
	for _, s := range rootSections {
		if s.Title == "ENVIRONMENT" {
			for _, it := range s.Items {
				documented[it.Tag] = true
			}
		}
	}
	// The variables the xfeat binary reads: those of the module's packages
	// linked into cmd/xfeat (test helpers such as internal/testutil, which
	// reads CI, are not).
	read := map[string]string{}
	getenv := regexp.MustCompile(`os\.(?:Getenv|LookupEnv)\("([A-Za-z_0-9]+)"\)`)
	top, _ := filepath.Abs(filepath.Join("..", "..", ".."))
	list := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{if eq .Path \"github.com/xfeat/xfeat\"}}{{$.Dir}}{{end}}{{end}}", "./cmd/xfeat")
	list.Dir = top
	dirs, err := list.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/xfeat: %v", err)
	}
	for _, dir := range strings.Fields(string(dirs)) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, p := range files {
			rel, _ := filepath.Rel(top, p)
			if strings.HasSuffix(p, "_test.go") || rel == filepath.Join("cmd", "xfeat", "root", "man.go") {
				continue
			}
			src, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range getenv.FindAllSubmatch(src, -1) {
				read[string(m[1])] = rel
			}
		}
	}
	if len(read) == 0 {
		t.Fatal("found no environment variable the binary reads")
	}
	for v, file := range read {
		if !documented[v] {
			t.Errorf("%s reads %s, which xfeat(1) ENVIRONMENT does not document", file, v)
		}
	}
	for v := range documented {
		if _, ok := read[v]; !ok {
			t.Errorf("xfeat(1) ENVIRONMENT documents %s, which nothing reads", v)
		}
		if !strings.Contains(shown, "\n       "+v+"\n") {
			t.Errorf("xfeat(1) does not show %s as an ENVIRONMENT entry", v)
		}
	}
}
