package validate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
)

// writeCfg writes src as a guest config; a src that gives no name gets one
// on a last line, so that positions in src stay and the domain-name check
// is not what a test sees.
func writeCfg(t *testing.T, src string) string {
	t.Helper()
	if !strings.Contains(src, "name") {
		src += "name = \"g\"\n"
	}
	p := filepath.Join(t.TempDir(), "guest.cfg")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, path string, out cmdutil.Output, strict bool) (string, error) {
	t.Helper()
	io, _, stdout, _ := iostreams.Test()
	err := validateRun(&ValidateOptions{IO: io, File: path, Output: out, Strict: strict})
	return stdout.String(), err
}

const badCfg = `name = "g"
vif = [ "bridge=br0,queues=2",
        "bridge=br0,queus=2" ]
disk = [ "/x,raw,xvda,rw,persistent=maybe" ]
max_event_channels = "lots"
`

func TestValidateText(t *testing.T) {
	p := writeCfg(t, badCfg)
	out, err := run(t, p, cmdutil.OutputTable, false)
	if cmdutil.ExitCodeOf(err) != cmdutil.ExitError {
		t.Fatalf("exit %v", cmdutil.ExitCodeOf(err))
	}
	want := p + ":3:21: vif #1: unknown vif key \"queus\": did you mean \"queues\"?\n" +
		p + ":4:37: disk #0: feature \"persistent\": \"maybe\" is not a boolean: use on or off (also 1/0, yes/no, true/false)\n" +
		p + ":5:22: parameter `max_event_channels' is not a valid number: a number is decimal, 0x hexadecimal or 0 octal (C strtol)\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestValidateJSON(t *testing.T) {
	p := writeCfg(t, badCfg)
	out, err := run(t, p, cmdutil.OutputJSON, false)
	if cmdutil.ExitCodeOf(err) != cmdutil.ExitError {
		t.Fatalf("exit %v", cmdutil.ExitCodeOf(err))
	}
	var list []Problem
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("%d problems: %s", len(list), out)
	}
	want := Problem{File: p, Line: 4, Column: 37, Severity: "error",
		Message: "feature \"persistent\": \"maybe\" is not a boolean: use on or off (also 1/0, yes/no, true/false)",
		Device:  "disk #0", Feature: "persistent"}
	if list[1] != want {
		t.Errorf("got  %+v\nwant %+v", list[1], want)
	}
	if list[0].Device != "vif #1" || list[0].Feature != "" || list[2].Device != "" {
		t.Errorf("devices: %+v", list)
	}
}

func TestValidateClean(t *testing.T) {
	p := writeCfg(t, "vif = [ 'bridge=br0,queues=2' ]\ndisk = [ '/x,,xvda,queues=2' ]\nfoo_unknown = 1\n")
	out, err := run(t, p, cmdutil.OutputTable, false)
	if err != nil || out != "" {
		t.Errorf("clean file: %v %q", err, out)
	}
	out, err = run(t, p, cmdutil.OutputJSON, false)
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Errorf("clean file json: %v %q", err, out)
	}
}

func TestValidateStrictAndWarnings(t *testing.T) {
	// The single-backslash "\;" is the cfg parser's leniency: a warning,
	// an error under --strict.
	p := writeCfg(t, "vif = [ 'bridge=br0,features=queues:2\\;sg:on' ]\n")
	out, err := run(t, p, cmdutil.OutputTable, false)
	if err != nil || !strings.Contains(out, "warning:") {
		t.Errorf("lenient: %v %q", err, out)
	}
	if _, err := run(t, p, cmdutil.OutputTable, true); cmdutil.ExitCodeOf(err) != cmdutil.ExitError {
		t.Errorf("strict: exit %v", cmdutil.ExitCodeOf(err))
	}
	// doubled backslash: clean in both modes
	p = writeCfg(t, "vif = [ 'bridge=br0,features=queues:2\\\\;sg:on' ]\n")
	if out, err := run(t, p, cmdutil.OutputTable, true); err != nil || out != "" {
		t.Errorf("doubled: %v %q", err, out)
	}
}

func TestValidateUnreadable(t *testing.T) {
	out, err := run(t, filepath.Join(t.TempDir(), "missing.cfg"), cmdutil.OutputTable, false)
	if cmdutil.ExitCodeOf(err) != cmdutil.ExitError || !strings.Contains(out, "cannot read") {
		t.Errorf("%v %q", err, out)
	}
}

func TestValidateExamples(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "examples")
	for name, wantOK := range map[string]bool{"guest-features.cfg": true, "guest-plain.cfg": true, "guest-mistakes.cfg": false} {
		out, err := run(t, filepath.Join(dir, name), cmdutil.OutputTable, false)
		if (err == nil) != wantOK {
			t.Errorf("%s: err %v\n%s", name, err, out)
		}
	}
}

func TestValidateTerminalShowsSource(t *testing.T) {
	p := writeCfg(t, badCfg)
	io, _, stdout, _ := iostreams.Test()
	io.SetStdoutTTY(true)
	io.SetColorEnabled(false)
	err := validateRun(&ValidateOptions{IO: io, File: p, Output: cmdutil.OutputTable})
	if cmdutil.ExitCodeOf(err) != cmdutil.ExitError {
		t.Fatalf("exit %v", cmdutil.ExitCodeOf(err))
	}
	out := stdout.String()
	if !strings.Contains(out, p+":3:21: error: vif #1: unknown vif key \"queus\"") || !strings.Contains(out, `"bridge=br0,queus=2" ]`) || !strings.Contains(out, "^") {
		t.Errorf("terminal output:\n%s", out)
	}
}

// validate knows offline which features belong to which device type, as
// create would find from the backend's schema: the README's old headline
// example asked a vif for a disk feature.
func TestValidateFeatureOfOtherDeviceType(t *testing.T) {
	p := writeCfg(t, "vif  = [ \"bridge=br0,queues=2\",\n"+
		"         \"bridge=br0,features=queues:2\\\\;max-ring-page-order:0\" ]\n"+
		"disk = [ \"/srv/guest.img,raw,xvda,rw,queues=4,features=feature-sg:1\" ]\n")
	out, err := run(t, p, cmdutil.OutputTable, false)
	if cmdutil.ExitCodeOf(err) != cmdutil.ExitError {
		t.Fatalf("exit %v\n%s", cmdutil.ExitCodeOf(err), out)
	}
	want := p + ":2:42: vif #1: feature \"max-ring-page-order\" is a disk feature, not a vif one: no vif backend offers it (xfeat create would refuse it); the vif features are in xfeat-requests(5)\n" +
		p + ":3:56: disk #0: feature \"feature-sg\" is a vif feature, not a disk one: no disk backend offers it (xfeat create would refuse it); the disk features are in xfeat-requests(5)\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

// The problems are validate's output: standard output, as text and as
// JSON, with nothing on standard error; the confirmation of a clean file on
// a terminal is not data and goes to standard error.
func TestValidateProblemsOnStdout(t *testing.T) {
	bad := writeCfg(t, badCfg)
	for _, out := range []cmdutil.Output{cmdutil.OutputTable, cmdutil.OutputJSON} {
		for _, tty := range []bool{false, true} {
			io, _, stdout, stderr := iostreams.Test()
			io.SetStdoutTTY(tty)
			io.SetColorEnabled(false)
			err := validateRun(&ValidateOptions{IO: io, File: bad, Output: out})
			if cmdutil.ExitCodeOf(err) != cmdutil.ExitError || !strings.Contains(stdout.String(), "max_event_channels") || stderr.Len() != 0 {
				t.Errorf("-o %s, tty %v: exit %d, stdout %q, stderr %q", out, tty, cmdutil.ExitCodeOf(err), stdout, stderr)
			}
		}
	}
	clean := writeCfg(t, "vif = [ 'bridge=br0' ]\n")
	io, _, stdout, stderr := iostreams.Test()
	io.SetStdoutTTY(true)
	if err := validateRun(&ValidateOptions{IO: io, File: clean, Output: cmdutil.OutputTable}); err != nil || stdout.Len() != 0 || stderr.String() != clean+": valid (1 vif, 0 disk)\n" {
		t.Errorf("clean on a terminal: %v, stdout %q, stderr %q", err, stdout, stderr)
	}
}
