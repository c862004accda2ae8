package convertcmd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	convertcmd "github.com/xfeat/xfeat/cmd/xfeat/convert"
	"github.com/xfeat/xfeat/cmd/xfeat/root"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/cmdutil/cmdtest"
)

func xfeat(stdin string, args ...string) (cmdutil.ExitCode, string, string) {
	return cmdtest.Exec(root.Run, stdin, args...)
}

func TestConvertUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"x.cfg"}, "give --to libvirt or --from libvirt"},
		{[]string{"--to", "libvirt", "--from", "libvirt", "x"}, "cannot be used together"},
		{[]string{"--to", "qemu", "x.cfg"}, "the only format is libvirt"},
		{[]string{"--to", "libvirt"}, "accepts 1 arg"},
		{[]string{"--to", "libvirt", "a", "b"}, "accepts 1 arg"},
	} {
		_, err := cmdtest.Parse(convertcmd.NewCmdConvert, c.args)
		cmdtest.CheckUsageError(t, strings.Join(c.args, " "), err, c.want)
	}
	o, err := cmdtest.Parse(convertcmd.NewCmdConvert, []string{"--from", "libvirt", "--strict", "-"})
	if err != nil || o.From != "libvirt" || !o.Strict || o.File != "-" {
		t.Errorf("options %+v, error %v", o, err)
	}
}

// TestConvertBothWays runs the command as a user does: xl.cfg to XML on
// standard output with warnings on standard error (exit 0), the XML back
// through standard input, and --strict failing with nothing printed.
func TestConvertBothWays(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "g.cfg")
	src := "name = \"g\"\nmemory = 256\ncpus = \"0-1\"\nvif = [\"bridge=xenbr0,queues=2,sg=on\"]\n"
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, xml, stderr := xfeat("", "convert", "--to", "libvirt", cfg)
	if code != cmdutil.ExitOK || !strings.HasPrefix(xml, "<domain type='xen'>\n") || !strings.Contains(xml, "<driver queues='2'/>") {
		t.Fatalf("exit %d\n%s\n%s", code, xml, stderr)
	}
	for _, w := range []string{cfg + ":3:1: warning: cpus has no libvirt element", cfg + ":4:32: warning: vif #0: feature feature-sg has no libvirt element"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	code, back, stderr := xfeat(xml, "convert", "--from", "libvirt", "-")
	if code != cmdutil.ExitOK || stderr != "" {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if want := "# xl.cfg converted by xfeat convert from <stdin>\nname = \"g\"\nmemory = 256\nvif = [\"bridge=xenbr0,queues=2,sg=on\"]\ncpus = \"0-1\"\n"; back != want {
		t.Errorf("back:\n%s\nwant:\n%s", back, want)
	}
	code, out, stderr := xfeat("", "convert", "--to", "libvirt", "--strict", cfg)
	if code != cmdutil.ExitError || out != "" || !strings.Contains(stderr, "error: cpus has no libvirt element") {
		t.Errorf("--strict: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = xfeat("", "convert", "--to", "libvirt", filepath.Join(dir, "missing.cfg"))
	if code != cmdutil.ExitError || out != "" || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing file: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = xfeat("<domain type='kvm'><name>k</name></domain>", "convert", "--from", "libvirt", "-")
	if code != cmdutil.ExitError || out != "" || !strings.Contains(stderr, "<stdin>:1:1: error: domain type=\"kvm\" is not a Xen domain") {
		t.Errorf("kvm: exit %d\n%s\n%s", code, out, stderr)
	}
}
