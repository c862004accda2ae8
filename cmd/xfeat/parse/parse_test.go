package parse_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/cmd/xfeat/root"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/cmdutil/cmdtest"
)

// run runs `xfeat args...` with stdin on test streams.
func run(t *testing.T, stdin string, args ...string) (code cmdutil.ExitCode, stdout, stderr string) {
	t.Helper()
	return cmdtest.Exec(root.Run, stdin, args...)
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "guest.cfg")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseJSON(t *testing.T) {
	p := writeFile(t, "# g\nmemory = 0x400\nvif = ['bridge=br0', [\"nested\"]]\nextra = 'a\\tb'\nextra += \"c\"\n")
	code, out, errOut := run(t, "", "parse", "--json", p)
	if code != cmdutil.ExitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var got []struct {
		Name  string `json:"name"`
		Op    string `json:"op"`
		Line  int    `json:"line"`
		Value any    `json:"value"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	want := `[{"name":"memory","op":"=","line":2,"value":"0x400"},{"name":"vif","op":"=","line":3,"value":["bridge=br0",["nested"]]},{"name":"extra","op":"=","line":4,"value":"a\tb"},{"name":"extra","op":"+=","line":5,"value":"a\tbc"}]`
	b, _ := json.Marshal(got)
	if string(b) != want {
		t.Errorf("JSON:\n%s\nwant\n%s", b, want)
	}
	// An empty file is an empty array, not null.
	code, out, _ = run(t, "", "parse", "--json", writeFile(t, "# nothing\n"))
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("empty file: exit %d, %q", code, out)
	}
}

func TestParseHuman(t *testing.T) {
	code, out, _ := run(t, "memory = 512\nvif = ['a', 'b']\n", "parse", "-")
	if code != 0 || out != "memory = 512\nvif = [\"a\", \"b\"]\n" {
		t.Errorf("exit %d, out %q", code, out)
	}
}

func TestParseRejects(t *testing.T) {
	p := writeFile(t, "a = 1\nb = [1 2]\nC = 3\n")
	code, out, errOut := run(t, "", "parse", "--json", p)
	if code != cmdutil.ExitError || out != "" {
		t.Errorf("exit %d, stdout %q", code, out)
	}
	for _, want := range []string{p + ":2:8: error:", p + ":3:1: error:", "    b = [1 2]\n", "^"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "\x1b[") {
		t.Error("colour on a non-terminal")
	}
}

func TestParseStrict(t *testing.T) {
	src := "vif = ['bridge=br0,features=queues:2\\;max-ring-page-order:0']\n"
	code, out, errOut := run(t, src, "parse", "--json", "-")
	if code != 0 || !strings.Contains(errOut, "warning:") || !strings.Contains(errOut, "xl would reject this") {
		t.Errorf("lenient: exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(out, `"bridge=br0,features=queues:2\\;max-ring-page-order:0"`) {
		t.Errorf("value not kept as written: %s", out)
	}
	code, _, errOut = run(t, src, "parse", "--strict", "-")
	if code != cmdutil.ExitError || !strings.Contains(errOut, "<stdin>:1:37: error:") {
		t.Errorf("strict: exit %d, stderr %q", code, errOut)
	}
}

func TestParseUsage(t *testing.T) {
	if code, _, _ := run(t, "", "parse"); code != cmdutil.ExitUsage {
		t.Errorf("no file: exit %d", code)
	}
	if code, _, _ := run(t, "", "parse", "--bogus", "x"); code != cmdutil.ExitUsage {
		t.Errorf("bad flag: exit %d", code)
	}
	if code, _, errOut := run(t, "", "parse", "/nonexistent/guest.cfg"); code != cmdutil.ExitError || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: exit %d, %q", code, errOut)
	}
}

// parse takes -o json like every command that prints data; --json stays as
// its alias, and the two must not disagree.
func TestParseOutputFlag(t *testing.T) {
	p := writeFile(t, "memory = 512\nvif = ['a']\n")
	code, viaO, errOut := run(t, "", "parse", "-o", "json", p)
	if code != cmdutil.ExitOK || errOut != "" || !json.Valid([]byte(viaO)) {
		t.Fatalf("-o json: exit %d %q %q", code, viaO, errOut)
	}
	for _, args := range [][]string{{"--json"}, {"--output=json"}, {"--json", "-o", "json"}} {
		code, out, errOut := run(t, "", append(append([]string{"parse"}, args...), p)...)
		if code != cmdutil.ExitOK || out != viaO || errOut != "" {
			t.Errorf("%v: exit %d, %q %q; want what -o json prints", args, code, out, errOut)
		}
	}
	if code, out, _ := run(t, "", "parse", "-o", "table", p); code != cmdutil.ExitOK || out != "memory = 512\nvif = [\"a\"]\n" {
		t.Errorf("-o table: exit %d %q", code, out)
	}
	for _, args := range [][]string{{"--json", "-o", "table"}, {"-o", "yaml"}} {
		if code, _, errOut := run(t, "", append(append([]string{"parse"}, args...), p)...); code != cmdutil.ExitUsage || errOut == "" {
			t.Errorf("%v: exit %d %q, want a usage error", args, code, errOut)
		}
	}
}
