package spec

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/cmdutil/cmdtest"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
)

func TestSpecArgs(t *testing.T) {
	for _, c := range []struct {
		argv     string
		wantType string
		wantN    int
		wantErr  string
	}{
		{"disk /x,,xvda", "disk", 1, ""},
		{"disk format=raw vdev=hda target=/x", "disk", 3, ""},
		{"vif bridge=br0", "vif", 1, ""},
		{"vif a b", "", 0, "a vif is one SPEC"},
		{"pci 0:1.2", "", 0, "unknown device type"},
		{"disk", "", 0, "requires at least 2 arg"},
	} {
		got, err := cmdtest.Parse(NewCmdSpec, strings.Fields(c.argv))
		if c.wantErr != "" {
			cmdtest.CheckUsageError(t, fmt.Sprintf("%q", c.argv), err, c.wantErr)
			continue
		}
		if err != nil || got.Type != c.wantType || len(got.Specs) != c.wantN {
			t.Errorf("%q: %v %+v", c.argv, err, got)
		}
	}
}

func run(t *testing.T, typ string, specs ...string) (map[string]any, string, error) {
	t.Helper()
	io, _, out, errOut := iostreams.Test()
	err := specRun(&SpecOptions{IO: io, Type: typ, Specs: specs})
	var m map[string]any
	if out.Len() > 0 {
		if jerr := json.Unmarshal(out.Bytes(), &m); jerr != nil {
			t.Fatalf("output is not JSON: %v\n%s", jerr, out)
		}
	}
	return m, errOut.String(), err
}

func TestSpecDiskJSON(t *testing.T) {
	m, stderr, err := run(t, "disk", "/srv/guest.img,raw,xvda,rw,queues=4,max-ring-page-order=2")
	if err != nil || stderr != "" {
		t.Fatalf("%v %s", err, stderr)
	}
	want := `{"access":"rw","devtype":"disk","features":{"max-ring-page-order":"2","multi-queue-max-queues":"4"},"format":"raw","target":"/srv/guest.img","vdev":"xvda","virtual-device":51712}`
	if got, _ := json.Marshal(m); string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	m, _, err = run(t, "disk", "cdrom", "no-discard", "vdev=hdc", "backendtype=qdisk")
	if err != nil || m["devtype"] != "cdrom" || m["access"] != "ro" || m["format"] != "empty" || m["discard"] != false ||
		m["backendtype"] != "qdisk" || m["target"] != nil {
		t.Errorf("cdrom: %v %v", m, err)
	}
}

func TestSpecVifJSON(t *testing.T) {
	m, _, err := run(t, "vif", `bridge=xenbr0,mac=00:16:3E:01:02:03,rate=10Mb/s@20ms,untrusted,features=queues:2\;csum:off`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"bridge":"xenbr0","devid":-1,"features":{"feature-no-csum-offload":"1","multi-queue-max-queues":"2"},"mac":"00:16:3e:01:02:03","rate":{"bytes_per_interval":25000,"interval_usecs":20000},"trusted":false}`
	if got, _ := json.Marshal(m); string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestSpecRejected(t *testing.T) {
	m, stderr, err := run(t, "vif", "bridge=br0,queus=2")
	if cmdutil.ExitCodeOf(err) != cmdutil.ExitError || m != nil {
		t.Fatalf("exit %v, output %v", cmdutil.ExitCodeOf(err), m)
	}
	if stderr != "spec:1:12: unknown vif key \"queus\": did you mean \"queues\"?\n" {
		t.Errorf("stderr %q", stderr)
	}
	_, stderr, err = run(t, "disk", "vdev=xvda", "bogus=1")
	if cmdutil.ExitCodeOf(err) != cmdutil.ExitError || !strings.HasPrefix(stderr, "spec[2]:1:1: unknown disk parameter \"bogus\"") {
		t.Errorf("exit %v, stderr %q", cmdutil.ExitCodeOf(err), stderr)
	}
	// accepted with a warning: JSON on stdout, warning on stderr, exit 0
	// (model=: an interface name such as bridge= with a blank is an error)
	m, stderr, err = run(t, "vif", "model=e1000 ")
	if err != nil || m["model"] != "e1000 " || !strings.Contains(stderr, "warning: value of model= ends in a blank") {
		t.Errorf("warning: %v %v %q", err, m, stderr)
	}
}
