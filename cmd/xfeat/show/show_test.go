package show

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/blkback"
	"github.com/xfeat/xfeat/backends/netback"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/cmdutil/cmdtest"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/sandbox"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xsclient"
)

func TestNewCmdShowArgs(t *testing.T) {
	for _, tc := range []struct {
		argv  string
		kind  pv.Kind
		dom   string
		devid uint32
		out   cmdutil.Output
		err   string
	}{
		{argv: "vif 5/0", kind: "vif", dom: "5", devid: 0, out: "table"},
		{argv: "disk guest/xvda -o json", kind: "vbd", dom: "guest", devid: 51712, out: "json"},
		{argv: "vbd 3/51728", kind: "vbd", dom: "3", devid: 51728, out: "table"},
		{argv: "vif g/xvda", err: `device id "xvda" is not a number`},
		{argv: "nic 1/0", err: `unknown device type "nic"`},
		{argv: "vif 1", err: `is not DOM/DEVID`},
		{argv: "vif /0", err: `is not DOM/DEVID`},
		{argv: "vif", err: "accepts 2 arg(s)"},
		{argv: "vif 1/0 -o yaml", err: `unknown output format "yaml"`},
	} {
		got, err := cmdtest.Parse(NewCmdShow, strings.Fields(tc.argv))
		if tc.err != "" {
			cmdtest.CheckUsageError(t, fmt.Sprintf("%q", tc.argv), err, tc.err)
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.argv, err)
			continue
		}
		if got.Kind != tc.kind || got.Domain != tc.dom || got.Devid != tc.devid || got.Output != tc.out {
			t.Errorf("%q: got %+v", tc.argv, got)
		}
	}
}

// guest runs a sandbox host in process and creates one guest with a
// clamped vif, returning the XenStore constructor commands get.
func guest(t *testing.T) func(context.Context, string, bool) (*xsclient.Client, error) {
	t.Helper()
	dir, err := os.MkdirTemp("", "xfsh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h, err := sandbox.New(sandbox.Config{Rundir: dir, Netback: netback.DefaultLimits(), Blkback: blkback.DefaultLimits()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); !sandbox.Answers(ctx, h.Socket()); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("host never answered")
		}
	}
	connect := func(ctx context.Context, _ string, _ bool) (*xsclient.Client, error) {
		return xsclient.Dial(ctx, h.Socket())
	}
	c, _ := connect(ctx, "", false)
	defer c.Close()
	cfgPath := filepath.Join(dir, "g.cfg")
	os.WriteFile(cfgPath, []byte("name=\"g\"\nvif=[\"queues=9,tso4=off\"]\n"), 0o644)
	f, diags := parser.ParseFile(cfgPath, parser.Options{})
	cfg, more := devspec.CheckFile(f)
	if diags.HasErrors() || more.HasErrors() {
		t.Fatal(diags, more)
	}
	plan, diags, err := toolstack.NewPlan(ctx, c, f, cfg)
	if plan == nil {
		t.Fatal(err, diags)
	}
	if _, err := toolstack.Create(ctx, c, plan, toolstack.CreateOptions{Wait: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	return connect
}

func TestShowRunOutputs(t *testing.T) {
	connect := guest(t)
	run := func(tty, colour bool, out cmdutil.Output) string {
		ios, _, stdout, _ := iostreams.Test()
		ios.SetStdoutTTY(tty)
		ios.SetColorEnabled(colour)
		err := showRun(&ShowOptions{IO: ios, XenStore: connect, Kind: "vif", Domain: "g", Devid: 0, Output: out})
		if err != nil {
			t.Fatal(err)
		}
		return stdout.String()
	}
	// Off a terminal: TSV, no header, no colour.
	tsv := run(false, false, cmdutil.OutputTable)
	if !strings.HasPrefix(tsv, "multi-queue-max-queues\t9\t4\t4\t4\tclamped\n") || strings.Contains(tsv, "\x1b[") || strings.Contains(tsv, "FEATURE") {
		t.Errorf("TSV:\n%q", tsv)
	}
	if !strings.Contains(tsv, "feature-gso-tcpv4\t0\t1\t0\t0\tapplied\n") {
		t.Errorf("TSV lacks the tso4 row:\n%s", tsv)
	}
	// On a terminal: the device line, a header, coloured verdicts.
	table := run(true, true, cmdutil.OutputTable)
	for _, want := range []string{"vif 1/0  backend /local/domain/0/backend/vif/1/0 (Connected)", "FEATURE", "\x1b[33mclamped\x1b[0m", "\x1b[32mapplied\x1b[0m",
		"backend error: config-multi-queue-max-queues:"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	// On a terminal with NO_COLOR (colour disabled): same table, no escapes.
	plain := run(true, false, cmdutil.OutputTable)
	if strings.Contains(plain, "\x1b[") || !strings.Contains(plain, "clamped") {
		t.Errorf("NO_COLOR table:\n%q", plain)
	}
	// JSON: null where absent, the same rows as the TSV.
	var rep toolstack.Report
	if err := json.Unmarshal([]byte(run(false, false, cmdutil.OutputJSON)), &rep); err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, f := range rep.Features {
		if f.Requested == nil && f.Verdict != "default" {
			t.Errorf("%s: no request but verdict %s", f.Name, f.Verdict)
		}
		rows = append(rows, strings.Join([]string{f.Name, cell(f.Requested), cell(f.Advertised), cell(f.Effective), cell(f.Negotiated), string(f.Verdict)}, "\t"))
	}
	if strings.Join(rows, "\n")+"\n" != tsv {
		t.Errorf("JSON and TSV differ:\n%s\n---\n%s", strings.Join(rows, "\n"), tsv)
	}

	// A device that does not exist: a clear error, exit 1.
	ios, _, _, _ := iostreams.Test()
	err := showRun(&ShowOptions{IO: ios, XenStore: connect, Kind: "vbd", Domain: "g", Devid: 51712})
	if !errors.Is(err, toolstack.ErrNoDevice) || cmdutil.ExitCodeOf(err) != cmdutil.ExitError {
		t.Errorf("missing device: %v", err)
	}
}
