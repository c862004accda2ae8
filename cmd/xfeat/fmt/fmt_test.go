package fmtcmd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/cmd/xfeat/root"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/cmdutil/cmdtest"
)

const messy = "# guest\nname='g' # n\nmemory=512;vcpus=2\nvif=['bridge=br0,features=queues:2\\;max-ring-page-order:0',\"bridge=br1\"]\r\n"
const tidy = "# guest\nname = \"g\" # n\nmemory = 512\nvcpus = 2\nvif = [\n    \"bridge=br0,features=queues:2\\\\;max-ring-page-order:0\",\n    \"bridge=br1\",\n]\n"

// run runs `xfeat args...` with stdin on test streams.
func run(t *testing.T, stdin string, args ...string) (code cmdutil.ExitCode, stdout, stderr string) {
	t.Helper()
	return cmdtest.Exec(root.Run, stdin, args...)
}

func writeFile(t *testing.T, text string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "guest.cfg")
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFmtStdout(t *testing.T) {
	p := writeFile(t, messy, 0o644)
	code, out, errOut := run(t, "", "fmt", p)
	if code != 0 || out != tidy {
		t.Errorf("exit %d\n%s\nwant\n%s", code, out, tidy)
	}
	if !strings.Contains(errOut, "warning:") {
		t.Errorf("no leniency warning: %q", errOut)
	}
	if b, _ := os.ReadFile(p); string(b) != messy {
		t.Error("fmt without -w changed the file")
	}
	if code, out, _ := run(t, tidy, "fmt", "-"); code != 0 || out != tidy {
		t.Errorf("not idempotent: %q", out)
	}
}

func TestFmtWrite(t *testing.T) {
	p := writeFile(t, messy, 0o640)
	if code, out, _ := run(t, "", "fmt", "-w", p); code != 0 || out != "" {
		t.Fatalf("exit %d, out %q", code, out)
	}
	b, _ := os.ReadFile(p)
	if string(b) != tidy {
		t.Errorf("file after -w:\n%s", b)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	// Already formatted: not rewritten (the inode stays).
	before, _ := os.Stat(p)
	run(t, "", "fmt", "-w", p)
	after, _ := os.Stat(p)
	if !os.SameFile(before, after) {
		t.Error("-w rewrote a formatted file")
	}
}

func TestFmtWriteThroughSymlink(t *testing.T) {
	p := writeFile(t, messy, 0o644)
	link := filepath.Join(t.TempDir(), "link.cfg")
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := run(t, "", "fmt", "-w", link); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink was replaced")
	}
	if b, _ := os.ReadFile(p); string(b) != tidy {
		t.Errorf("target not formatted:\n%s", b)
	}
}

func TestFmtRejectedUntouched(t *testing.T) {
	bad := "a = 1\nb = [1 2]\n"
	p := writeFile(t, bad, 0o644)
	code, out, errOut := run(t, "", "fmt", "-w", p)
	if code != cmdutil.ExitError || out != "" || !strings.Contains(errOut, p+":2:8: error:") {
		t.Errorf("exit %d, out %q, stderr %q", code, out, errOut)
	}
	if b, _ := os.ReadFile(p); string(b) != bad {
		t.Error("rejected file was changed")
	}
}

func TestFmtCheckAndDiff(t *testing.T) {
	messyPath := writeFile(t, messy, 0o644)
	tidyPath := writeFile(t, tidy, 0o644)
	code, out, _ := run(t, "", "fmt", "--check", tidyPath, messyPath)
	if code != cmdutil.ExitError || out != messyPath+"\n" {
		t.Errorf("--check: exit %d, out %q", code, out)
	}
	if code, out, _ := run(t, "", "fmt", "--check", tidyPath); code != 0 || out != "" {
		t.Errorf("--check on a tidy file: exit %d, out %q", code, out)
	}
	code, out, _ = run(t, "", "fmt", "-d", messyPath)
	for _, want := range []string{"--- " + messyPath + ".orig\n", "+++ " + messyPath + "\n", "@@ -1,4 +1,8 @@\n", " # guest\n", "-name='g' # n\n", "+name = \"g\" # n\n", "+vcpus = 2\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("-d: exit %d", code)
	}
	if b, _ := os.ReadFile(messyPath); string(b) != messy {
		t.Error("-d changed the file")
	}
}

func TestFmtUsage(t *testing.T) {
	for _, args := range [][]string{{"fmt"}, {"fmt", "-w", "--check", "x"}, {"fmt", "-w", "-"},
		{"fmt", "--for-xl", "-w", "x"}, {"fmt", "--for-xl", "--check", "x"}} {
		if code, _, _ := run(t, "", args...); code != cmdutil.ExitUsage {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestFmtForXl: --for-xl takes xfeat's requests out of the specs and keeps
// everything else as written; the file on disk is not touched; what was
// taken out is listed on stderr with its position.
func TestFmtForXl(t *testing.T) {
	src := "# guest\nname = 'g'  # n\nvif = [ 'bridge=br0,queues=2', # two\n        \"mac=00:16:3e:00:00:01,features=queues:2\\\\;feature-sg:0\" ]\n" +
		"disk = [ \"/x.img,raw,xvda,rw,max-ring-page-order=0,persistent=off\" ]\n"
	want := "# guest\nname = 'g'  # n\nvif = [ 'bridge=br0', # two\n        \"mac=00:16:3e:00:00:01\" ]\n" +
		"disk = [ \"/x.img,raw,xvda,rw\" ]\n"
	p := writeFile(t, src, 0o644)
	code, out, errOut := run(t, "", "fmt", "--for-xl", p)
	if code != 0 || out != want {
		t.Fatalf("exit %d\n%s\nwant\n%s\nstderr %s", code, out, want, errOut)
	}
	for _, line := range []string{":3:21: vif #0: took out queues=2", ":4:32: vif #1: took out features=queues:2\\;feature-sg:0",
		":5:30: disk #0: took out max-ring-page-order=0", ":5:52: disk #0: took out persistent=off"} {
		if !strings.Contains(errOut, line) {
			t.Errorf("stderr lacks %q:\n%s", line, errOut)
		}
	}
	if b, _ := os.ReadFile(p); string(b) != src {
		t.Error("--for-xl changed the file")
	}
	// A file xl would need repaired (CRLF) comes out canonical.
	code, out, _ = run(t, "name = 'g'\r\nvif = [ 'bridge=br0,queues=2' ]\r\n", "fmt", "--for-xl", "-")
	if code != 0 || out != "name = \"g\"\nvif = [\"bridge=br0\"]\n" {
		t.Errorf("CRLF file: exit %d %q", code, out)
	}
	// An invalid file is refused, nothing printed.
	code, out, errOut = run(t, "name = 'g'\ndisk = [ '/x,raw,xvda,persistent=maybe' ]\n", "fmt", "--for-xl", "-")
	if code != 1 || out != "" || !strings.Contains(errOut, "persistent") {
		t.Errorf("invalid file: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
