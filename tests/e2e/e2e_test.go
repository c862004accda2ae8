package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xfeat/xfeat/internal/testutil"
	"github.com/xfeat/xfeat/sandbox"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

type showJSON struct {
	Device   string `json:"device"`
	Backend  string `json:"backend"`
	Frontend string `json:"frontend"`
	State    struct {
		Backend  *int `json:"backend"`
		Frontend *int `json:"frontend"`
	} `json:"state"`
	Features []struct {
		Name       string  `json:"name"`
		Requested  *string `json:"requested"`
		Advertised *string `json:"advertised"`
		Effective  *string `json:"effective"`
		Negotiated *string `json:"negotiated"`
		Verdict    string  `json:"verdict"`
	} `json:"features"`
}

func orDash(p *string) string {
	if p == nil {
		return "-"
	}
	return *p
}

// TestCreateShowDestroy drives examples/guest.cfg through the CLI: create,
// list, show (table and JSON agree), destroy; the tree is as before.
func TestCreateShowDestroy(t *testing.T) {
	h := startHost(t, nil)
	before := h.dump(t)
	cfg := guestCfg(t, images(t, 2, 8<<20))

	r := h.xfeat(t, "create", cfg)
	if r.Code != 0 {
		t.Fatalf("create: exit %d\n%s", r.Code, r.Err)
	}
	if !strings.Contains(r.Err, "guest.cfg:22:51: warning: vif #1: features=queues (multi-queue-max-queues)=8 is above backend domain 0's maximum 4") {
		t.Errorf("no clamp warning on stderr: %s", r.Err)
	}
	want := "1\tguest\tvif 1/0\tConnected\tConnected\n1\tguest\tvif 1/1\tConnected\tConnected\n" +
		"1\tguest\tvbd 1/51712\tConnected\tConnected\n1\tguest\tvbd 1/51728\tConnected\tConnected\n"
	if r.Out != want {
		t.Fatalf("create output:\n%s\nwant:\n%s", r.Out, want)
	}

	r = h.xfeat(t, "list", "-o", "json")
	var doms []struct {
		Domid   uint32 `json:"domid"`
		Name    string `json:"name"`
		Devices []struct {
			Device string `json:"device"`
			State  struct{ Backend, Frontend int }
		} `json:"devices"`
	}
	if err := json.Unmarshal([]byte(r.Out), &doms); err != nil || r.Code != 0 {
		t.Fatalf("list -o json: %v %d %s", err, r.Code, r.Err)
	}
	if len(doms) != 2 || doms[1].Name != "guest" || len(doms[1].Devices) != 4 || doms[1].Devices[3].State.Frontend != 4 {
		t.Fatalf("list: %+v", doms)
	}

	verdicts := map[string]map[string]string{}
	negotiated := map[string]string{}
	for _, dev := range [][2]string{{"vif", "guest/0"}, {"vif", "1/1"}, {"disk", "guest/xvda"}, {"vbd", "1/51728"}} {
		tsv := h.xfeat(t, "show", dev[0], dev[1])
		js := h.xfeat(t, "show", dev[0], dev[1], "-o", "json")
		if tsv.Code != 0 || js.Code != 0 {
			t.Fatalf("show %v: exit %d/%d %s %s", dev, tsv.Code, js.Code, tsv.Err, js.Err)
		}
		var rep showJSON
		if err := json.Unmarshal([]byte(js.Out), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.State.Backend == nil || *rep.State.Backend != 4 || rep.State.Frontend == nil || *rep.State.Frontend != 4 {
			t.Errorf("show %v: states %+v", dev, rep.State)
		}
		var fromJSON []string
		v := map[string]string{}
		for _, f := range rep.Features {
			fromJSON = append(fromJSON, strings.Join([]string{f.Name, orDash(f.Requested), orDash(f.Advertised), orDash(f.Effective), orDash(f.Negotiated), f.Verdict}, "\t"))
			v[f.Name] = f.Verdict
			negotiated[rep.Device+" "+f.Name] = orDash(f.Negotiated)
		}
		if got := strings.TrimSuffix(tsv.Out, "\n"); got != strings.Join(fromJSON, "\n") {
			t.Errorf("show %v: the table and the JSON differ:\n%s\n---\n%s", dev, got, strings.Join(fromJSON, "\n"))
		}
		verdicts[rep.Device] = v
	}
	for dev, checks := range map[string]map[string]string{
		"vif 1/0":     {"multi-queue-max-queues": "applied", "feature-gso-tcpv4": "applied", "feature-sg": "default"},
		"vif 1/1":     {"multi-queue-max-queues": "clamped", "feature-split-event-channels": "applied"},
		"vbd 1/51712": {"multi-queue-max-queues": "applied", "max-ring-page-order": "applied", "feature-max-indirect-segments": "applied", "feature-persistent": "applied"},
		"vbd 1/51728": {"max-ring-page-order": "applied", "feature-max-indirect-segments": "applied", "feature-persistent": "applied", "multi-queue-max-queues": "default"},
	} {
		for f, want := range checks {
			if got := verdicts[dev][f]; got != want {
				t.Errorf("%s %s: verdict %q, want %q", dev, f, got, want)
			}
		}
	}

	// What the guests chose: the clamp, split channels per queue (queue-N/).
	for key, want := range map[string]string{
		"vif 1/0 multi-queue-max-queues":       "2",
		"vif 1/0 feature-split-event-channels": "1",
		"vif 1/1 multi-queue-max-queues":       "4",
		"vif 1/1 feature-split-event-channels": "0",
		"vbd 1/51712 max-ring-page-order":      "2",
		"vbd 1/51728 feature-persistent":       "0",
	} {
		if negotiated[key] != want {
			t.Errorf("%s: negotiated %q, want %q", key, negotiated[key], want)
		}
	}

	if r := h.xfeat(t, "destroy", "guest"); r.Code != 0 {
		t.Fatalf("destroy: exit %d %s", r.Code, r.Err)
	}
	if after := h.dump(t); after != before {
		t.Fatalf("destroy left the tree changed:\n%s", diffLines(before, after))
	}
	if n := h.GrantMappings(); n != 0 {
		t.Errorf("%d grant mappings left after destroy", n)
	}
	r = h.xfeat(t, "destroy", "guest")
	if r.Code != 1 || !strings.Contains(r.Err, `no such domain: no domain is named "guest"`) {
		t.Errorf("second destroy: exit %d %q", r.Code, r.Err)
	}
	r = h.xfeat(t, "destroy", "1")
	if r.Code != 1 || !strings.Contains(r.Err, "no such domain: domain 1") {
		t.Errorf("destroy of a gone id: exit %d %q", r.Code, r.Err)
	}
}

// TestGuestCannotReadConfigOrWriteBackend acts as the guest with Debian's
// xenstore-read and xenstore-write on the guest's own domain socket.
func TestGuestCannotReadConfigOrWriteBackend(t *testing.T) {
	for _, tool := range []string{"xenstore-read", "xenstore-write", "xenstore-ls"} {
		testutil.NeedTool(t, tool, "xenstore-utils")
	}
	h := startHost(t, nil)
	cfg := guestCfg(t, images(t, 2, 8<<20))
	if r := h.xfeat(t, "create", cfg); r.Code != 0 {
		t.Fatalf("create: %d %s", r.Code, r.Err)
	}
	ctx := context.Background()
	guestSock := filepath.Join(h.Dir, "domains", "1", "socket")
	guestEnv := append(os.Environ(), "XENSTORED_PATH="+guestSock)
	guest, err := xsclient.Dial(ctx, guestSock)
	if err != nil {
		t.Fatal(err)
	}
	defer guest.Close()

	var configs, backendDirs []string
	for _, kind := range []string{"vif", "vbd"} {
		devs, err := h.XS.Directory(ctx, "/local/domain/0/backend/"+kind+"/1")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range devs {
			dir := "/local/domain/0/backend/" + kind + "/1/" + d
			backendDirs = append(backendDirs, dir)
			keys, err := h.XS.Directory(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				if strings.HasPrefix(k, "config-") {
					configs = append(configs, dir+"/"+k)
				}
			}
		}
	}
	if len(configs) != 11 || len(backendDirs) != 4 {
		t.Fatalf("want 11 config-* nodes in 4 backend dirs, found %d in %d", len(configs), len(backendDirs))
	}
	run := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Env = guestEnv
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, p := range configs {
		if out, err := run("xenstore-read", p); err == nil {
			t.Errorf("the guest read %s: %q", p, out)
		}
		if _, err := guest.Read(ctx, p); !errors.Is(err, xswire.ErrPermission) {
			t.Errorf("guest read of %s: %v, want EACCES", p, err)
		}
	}
	for _, dir := range backendDirs {
		// The guest may read its backend's public keys (the frontend needs them)...
		if out, err := run("xenstore-read", dir+"/state"); err != nil || strings.TrimSpace(out) != "4" {
			t.Errorf("the guest cannot read %s/state: %q %v", dir, out, err)
		}
		// ...but write nothing there: not a new key, not an existing one, not a config-*.
		for _, key := range []string{"evil", "state", "config-multi-queue-max-queues"} {
			if out, err := run("xenstore-write", dir+"/"+key, "16"); err == nil {
				t.Errorf("the guest wrote %s/%s: %q", dir, key, out)
			}
			if err := guest.WriteString(ctx, dir+"/"+key, "16"); !errors.Is(err, xswire.ErrPermission) {
				t.Errorf("guest write of %s/%s: %v, want EACCES", dir, key, err)
			}
		}
		// libxenstore names the errno: listing the directory as the guest
		// stops at the first config-* node with EACCES.
		if out, err := run("xenstore-ls", dir); err == nil || !regexp.MustCompile(`xs_directory \(`+dir+`/config-[a-z-]+\): Permission denied`).MatchString(out) {
			t.Errorf("xenstore-ls %s as the guest: %v\n%s", dir, err, out)
		}
	}
	// What the backend reads is still what the toolstack wrote.
	if v, err := h.XS.ReadString(ctx, "/local/domain/0/backend/vif/1/0/config-multi-queue-max-queues"); err != nil || v != "2" {
		t.Errorf("config-multi-queue-max-queues = %q %v", v, err)
	}
	if r := h.xfeat(t, "destroy", "guest"); r.Code != 0 {
		t.Fatalf("destroy: %d %s", r.Code, r.Err)
	}
}

// xenstoreLs dumps the tree with Debian's xenstore-ls -f -p.
func xenstoreLs(t *testing.T, sock string) string {
	t.Helper()
	cmd := exec.Command("xenstore-ls", "-f", "-p")
	cmd.Env = append(os.Environ(), "XENSTORED_PATH="+sock)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xenstore-ls: %v", err)
	}
	return string(out)
}

// TestBadValuesChangeNothing: every kind of bad request fails with exit 1,
// names file:line:column, the device and the feature, and leaves the tree
// byte-identical.
func TestBadValuesChangeNothing(t *testing.T) {
	h := startHost(t, nil)
	img := images(t, 1, 1<<20)[0]
	for _, tc := range []struct{ name, src, want string }{
		{"wrong type", "name=\"bad\"\nvif = [ \"bridge=xenbr0,features=queues:two\" ]\n",
			`bad.cfg:2:33: vif #0: features=queues (multi-queue-max-queues)=two is not allowed: allowed is an unsigned integer from 1 to 16`},
		{"wrong type (bool)", "name=\"bad\"\nvif = [ \"bridge=xenbr0,features=feature-sg:maybe\" ]\n",
			`bad.cfg:2:44: vif #0: feature "feature-sg": "maybe" is not a boolean`},
		{"out of range", "name=\"bad\"\nvif = [ \"bridge=xenbr0\",\n        \"bridge=xenbr0,queues=17\" ]\n",
			`bad.cfg:3:24: vif #1: queues (multi-queue-max-queues)=17 is not allowed: allowed is an unsigned integer from 1 to 16, as backend domain 0 advertises in /local/domain/0/backend/vif/features`},
		{"unknown feature", "name=\"bad\"\ndisk = [ \"" + img + ",raw,xvda,rw,features=feature-write-same:1\" ]\n",
			`vbd` /* filled below */},
		{"over budget", "name=\"bad\"\nmax_grant_frames = 8\ndisk = [ \"" + img + ",raw,xvda,rw,queues=4,max-ring-page-order=4,max-indirect-segments=0\" ]\n",
			`bad.cfg:2:20: the devices need 8256 grant entries but max_grant_frames=8 gives 4088`},
		{"over event channels", "name=\"bad\"\nmax_event_channels = 8\nvif = [ \"queues=4,features=feature-split-event-channels:1\" ]\n",
			`bad.cfg:2:22: the devices need 10 event channels (2 for xenstore and console) but max_event_channels=8`},
		{"bad spec", "name=\"bad\"\nvif = [ \"bridge=xenbr0,queus=2\" ]\n", `bad.cfg:2:`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "vbd" {
				tc.want = fmt.Sprintf(`bad.cfg:2:%d: disk #0: feature feature-write-same is not offered by backend domain 0`, 11+len(img)+len(",raw,xvda,rw,features="))
			}
			before, beforeLs := h.dump(t), xenstoreLs(t, h.Socket())
			r := h.xfeat(t, "create", writeCfg(t, "bad.cfg", tc.src))
			if r.Code != 1 {
				t.Errorf("exit %d, want 1 (stderr %s)", r.Code, r.Err)
			}
			if !strings.Contains(r.Err, tc.want) {
				t.Errorf("stderr:\n%s\nwant it to contain:\n%s", r.Err, tc.want)
			}
			if after := h.dump(t); after != before {
				t.Errorf("the tree changed:\n%s", diffLines(before, after))
			}
			if afterLs := xenstoreLs(t, h.Socket()); afterLs != beforeLs {
				t.Errorf("xenstore-ls -p differs:\n%s", diffLines(beforeLs, afterLs))
			}
		})
	}
}

// TestExitCodes checks 0, 1, 2 and 3 for each command.
func TestExitCodes(t *testing.T) {
	h := startHost(t, nil)
	cfg := writeCfg(t, "g.cfg", "name=\"g\"\nvif=[\"queues=1\"]\n")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"create"}, 2, "accepts 1 arg(s), received 0"},
		{[]string{"create", cfg, "--wait", "0s"}, 2, "--wait must be positive"},
		{[]string{"create", cfg, "--bogus"}, 2, "unknown flag: --bogus"},
		{[]string{"create", "/nonexistent.cfg"}, 1, "/nonexistent.cfg"},
		{[]string{"show", "nic", "1/0"}, 2, `unknown device type "nic"`},
		{[]string{"show", "vif", "1"}, 2, `is not DOM/DEVID`},
		{[]string{"show", "vif", "7/0"}, 1, "no such domain: domain 7"},
		{[]string{"list", "extra"}, 2, "unknown command"},
		{[]string{"destroy"}, 2, "accepts 1 arg(s)"},
		{[]string{"destroy", "0"}, 1, "refusing to destroy domain 0"},
		{[]string{"features", "vbd", "--backend", "9"}, 1, "no such domain"},
		{[]string{"features", "pci"}, 2, "unknown device type"},
		{[]string{"create", "--dry-run", cfg}, 0, ""},
		{[]string{"create", cfg}, 0, ""},
		{[]string{"show", "vif", "g/0"}, 0, ""},
		{[]string{"show", "vif", "g/3"}, 1, "no such device: domain 1 has no vif 3"},
		{[]string{"features", "vif"}, 0, ""},
		{[]string{"list"}, 0, ""},
		{[]string{"destroy", "g"}, 0, ""},
	} {
		r := h.xfeat(t, tc.args...)
		if r.Code != tc.code || !strings.Contains(r.Err, tc.want) {
			t.Errorf("xfeat %v: exit %d (want %d), stderr %q (want %q)", tc.args, r.Code, tc.code, r.Err, tc.want)
		}
	}
	// Any command that cannot reach XenStore exits 1 and says where it looked.
	for _, cmd := range [][]string{{"list"}, {"show", "vif", "1/0"}, {"features", "vif"}, {"destroy", "g"}} {
		r := runXfeat(t, nil, append(cmd, "--xenstore", "/nonexistent/socket")...)
		if r.Code != 1 || !strings.Contains(r.Err, "no XenStore answered: /nonexistent/socket (--xenstore)") {
			t.Errorf("xfeat %v with no XenStore: exit %d, %q", cmd, r.Code, r.Err)
		}
	}
	// features -o json: the schema as the backend advertises it.
	r0 := h.xfeat(t, "features", "disk", "-o", "json")
	var schemaJSON struct {
		Backend  uint32 `json:"backend"`
		Type     string `json:"type"`
		Features []struct {
			Name    string   `json:"name"`
			Type    string   `json:"type"`
			Default *string  `json:"default"`
			Min     *int64   `json:"min"`
			Max     *int64   `json:"max"`
			Values  []string `json:"values"`
		} `json:"features"`
	}
	if err := json.Unmarshal([]byte(r0.Out), &schemaJSON); err != nil || r0.Code != 0 {
		t.Fatalf("features -o json: %v %d %s", err, r0.Code, r0.Err)
	}
	seen := false
	for _, f := range schemaJSON.Features {
		if f.Name == "max-ring-page-order" {
			seen = f.Type == "uint" && f.Default != nil && *f.Default == "4" && f.Min != nil && *f.Min == 0 && f.Max != nil && *f.Max == 4 && f.Values != nil
		}
	}
	if schemaJSON.Type != "vbd" || !seen {
		t.Errorf("features disk -o json: %s", r0.Out)
	}

	// --dry-run wrote nothing but printed every node with its permissions.
	r := h.xfeat(t, "create", "--dry-run", "-o", "json", cfg)
	var dry struct {
		Domid uint32 `json:"domid"`
		Nodes []struct {
			Path  string   `json:"path"`
			Value string   `json:"value"`
			Perms []string `json:"perms"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(r.Out), &dry); err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, n := range dry.Nodes {
		found[n.Path] = n.Value + " " + strings.Join(n.Perms, ",")
	}
	for path, want := range map[string]string{
		"/local/domain/0/backend/vif/1/0/config-multi-queue-max-queues": "1 n0",
		"/local/domain/1/device/vif/0":                                  " n1,r0",
		"/local/domain/1/device/vif/0/mtu":                              "1500 n0,r1",
		"/local/domain/0/backend/vif/1/0":                               " n0,r1",
		"/libxl/1":                                                      " n0",
	} {
		if found[path] != want {
			t.Errorf("dry run node %s = %q, want %q", path, found[path], want)
		}
	}
	if ok, _ := h.XS.Exists(context.Background(), "/libxl/1"); ok {
		t.Error("--dry-run wrote /libxl/1")
	}
}

// TestTimeoutExit3 runs a host whose guests run no frontends: the backends
// wait in InitWait, create gives up after --wait, names each stuck device
// and both states, exits 3 and leaves nothing.
func TestTimeoutExit3(t *testing.T) {
	h := startHost(t, func(c *sandbox.Config) { c.RunFrontends = func(uint32) bool { return false } })
	before := h.dump(t)
	img := images(t, 1, 1<<20)[0]
	cfg := writeCfg(t, "stuck.cfg", "name=\"stuck\"\nvif=[\"queues=1\"]\ndisk=[\""+img+",raw,xvda,rw,max-indirect-segments=0\"]\n")
	r := h.xfeat(t, "create", "--wait", "500ms", cfg)
	if r.Code != 3 {
		t.Fatalf("exit %d, want 3; stderr %s", r.Code, r.Err)
	}
	for _, want := range []string{
		"timed out after",
		"waiting for 2 device(s) to reach Connected",
		"vif 1/0: backend InitWait (/local/domain/0/backend/vif/1/0), frontend Initialising (/local/domain/1/device/vif/0)",
		"vbd 1/51712: backend InitWait (/local/domain/0/backend/vbd/1/51712), frontend Initialising (/local/domain/1/device/vbd/51712)",
		"nothing was left behind",
	} {
		if !strings.Contains(r.Err, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Err)
		}
	}
	if after := h.dump(t); after != before {
		t.Fatalf("a timed-out create left the tree changed:\n%s", diffLines(before, after))
	}
}

// TestMissingImageFailsCleanly: blkback cannot open the image; create
// fails with the backend's reason and leaves nothing.
func TestMissingImageFailsCleanly(t *testing.T) {
	h := startHost(t, nil)
	before := h.dump(t)
	cfg := writeCfg(t, "noimg.cfg", "name=\"noimg\"\ndisk=[\"/nonexistent/x.img,raw,xvda,rw,max-indirect-segments=0\"]\n")
	r := h.xfeat(t, "create", "--wait", "5s", cfg)
	if r.Code == 0 {
		t.Fatalf("create with a missing image succeeded: %s", r.Out)
	}
	if !strings.Contains(r.Err, "vbd 1/51712") {
		t.Errorf("stderr does not name the device: %s", r.Err)
	}
	if after := h.dump(t); after != before {
		t.Fatalf("a failed create left the tree changed:\n%s", diffLines(before, after))
	}
}

// TestConcurrentCreators runs 8 processes at once, each creating its
// guests and then destroying them: every create succeeds or fails cleanly,
// and nothing is left at the end. CI runs 8 × 50; locally 8 × 10.
func TestConcurrentCreators(t *testing.T) {
	perWorker := 10
	if os.Getenv("CI") == "true" {
		perWorker = 50
	}
	if testing.Short() {
		perWorker = 3
	}
	h := startHost(t, nil)
	before := h.dump(t)
	cfgs := make([]string, 8)
	for w := range cfgs {
		cfgs[w] = writeCfg(t, fmt.Sprintf("w%d.cfg", w), fmt.Sprintf("name=\"w%d\"\nvif=[\"queues=1,features=feature-split-event-channels:0\"]\n", w))
	}
	var mu sync.Mutex
	created, failed := 0, 0
	var wg sync.WaitGroup
	domidRE := regexp.MustCompile(`^(\d+)\t`)
	for w := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ids []string
			for i := range perWorker {
				name := fmt.Sprintf("w%d-%d", w, i)
				src, _ := os.ReadFile(cfgs[w])
				cfg := writeCfg(t, name+".cfg", strings.Replace(string(src), fmt.Sprintf("\"w%d\"", w), "\""+name+"\"", 1))
				r := h.xfeat(t, "create", "--wait", "15s", cfg) // well inside runXfeat's 60 s kill
				mu.Lock()
				if r.Code == 0 {
					created++
				} else {
					failed++
				}
				mu.Unlock()
				if r.Code != 0 {
					if r.Code != 1 && r.Code != 3 {
						t.Errorf("%s: exit %d: %s", name, r.Code, r.Err)
					}
					t.Logf("%s failed cleanly (exit %d): %s", name, r.Code, r.Err)
					continue
				}
				m := domidRE.FindStringSubmatch(r.Out)
				if m == nil {
					t.Errorf("%s: no domid in %q", name, r.Out)
					continue
				}
				ids = append(ids, m[1])
			}
			for _, id := range ids {
				if r := h.xfeat(t, "destroy", id); r.Code != 0 {
					t.Errorf("destroy %s: exit %d: %s", id, r.Code, r.Err)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d guests created, %d failed cleanly", created, failed)
	if created == 0 {
		t.Fatal("no guest was created")
	}
	if after := h.dump(t); after != before {
		t.Fatalf("nodes left after the destroys:\n%s", diffLines(before, after))
	}
	if n := h.GrantMappings(); n != 0 {
		t.Errorf("%d grant mappings left", n)
	}
	if n := h.EventChannels(); n != 0 {
		t.Errorf("%d event channels left", n)
	}
}

// TestStartsSandboxWhenNothingAnswers runs create as an unprivileged user
// whose runtime directory has no host: create starts one, says so, and the
// guest comes up in it.
func TestStartsSandboxWhenNothingAnswers(t *testing.T) {
	testutil.NeedRoot(t, "to run xfeat as another user (nobody)")
	if _, err := os.Stat("/var/run/xenstored/socket"); err == nil {
		testutil.Need(t, "a machine without Xen", "a real xenstored answers on /var/run/xenstored/socket, and create would use it")
	}
	runtime, err := os.MkdirTemp("", "xfrt")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(runtime)
	os.Chmod(runtime, 0o777)
	cfg := filepath.Join(runtime, "g.cfg")
	os.WriteFile(cfg, []byte("name=\"auto\"\nvif=[\"queues=1\"]\n"), 0o644)
	rundir := filepath.Join(runtime, "xfeat")
	defer sandbox.Stop(context.Background(), rundir)

	cmd := exec.Command(xfeatBin, "create", cfg)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "XDG_RUNTIME_DIR=" + runtime, "NO_COLOR=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("create as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "xfeat: no XenStore answered; started the sandbox host (rundir "+rundir+")") {
		t.Errorf("no notice of the started host:\n%s", out)
	}
	if !strings.Contains(string(out), "1\tauto\tvif 1/0\tConnected\tConnected") {
		t.Errorf("the guest did not come up:\n%s", out)
	}
	st, err := sandbox.Status(context.Background(), rundir)
	if err != nil || !st.Running {
		t.Errorf("host status: %+v %v", st, err)
	}
}

// TestInterruptLeavesNothing: SIGINT while create waits for devices removes
// everything it wrote and releases the domain.
func TestInterruptLeavesNothing(t *testing.T) {
	h := startHost(t, func(c *sandbox.Config) { c.RunFrontends = func(uint32) bool { return false } })
	before := h.dump(t)
	cfg := writeCfg(t, "int.cfg", "name=\"int\"\nvif=[\"queues=1\"]\n")
	cmd := exec.Command(xfeatBin, "create", "--wait", "60s", "--xenstore", h.Socket(), cfg)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Signal once the domain is there (the devices then wait forever).
	for i := 0; ; i++ {
		if ok, _ := h.XS.Exists(context.Background(), "/local/domain/1/device/vif/0"); ok {
			break
		}
		if i > 500 {
			t.Fatal("the domain never appeared")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Meanwhile show says what is pending: the backend offers the one queue
	// asked for, the guest has not answered.
	for i := 0; ; i++ {
		r := h.xfeat(t, "show", "vif", "int/0")
		if strings.HasPrefix(r.Out, "multi-queue-max-queues\t1\t4\t1\t-\tpending\n") {
			break
		}
		if i > 100 {
			t.Fatalf("show while waiting: %d %q %s", r.Code, r.Out, r.Err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "interrupted; nothing was left behind") {
		t.Fatalf("interrupted create: %v\n%s", err, stderr.String())
	}
	if after := h.dump(t); after != before {
		t.Fatalf("an interrupted create left the tree changed:\n%s", diffLines(before, after))
	}
}

// TestShowRefused: a feature the backend does not support at all is
// refused (named in the backend's error node).
func TestShowRefused(t *testing.T) {
	h := startHost(t, func(c *sandbox.Config) { c.Netback.Disabled = []string{"feature-multicast-control"} })
	cfg := writeCfg(t, "mc.cfg", "name=\"mc\"\nvif=[\"queues=2,features=feature-multicast-control:1\"]\n")
	if r := h.xfeat(t, "create", cfg); r.Code != 0 {
		// A refused feature need not stop the device from connecting.
		t.Fatalf("create: %d %s", r.Code, r.Err)
	}
	r := h.xfeat(t, "show", "vif", "mc/0", "-o", "json")
	var rep showJSON
	if err := json.Unmarshal([]byte(r.Out), &rep); err != nil {
		t.Fatal(err, r.Err)
	}
	got := map[string]string{}
	for _, f := range rep.Features {
		got[f.Name] = f.Verdict + " " + orDash(f.Requested) + "/" + orDash(f.Effective)
	}
	if got["feature-multicast-control"] != "refused 1/0" || got["multi-queue-max-queues"] != "applied 2/2" {
		t.Errorf("verdicts: %v", got)
	}
	if r := h.xfeat(t, "destroy", "mc"); r.Code != 0 {
		t.Fatalf("destroy: %d %s", r.Code, r.Err)
	}
}

// TestHostileGuestFrontend: a guest owns its frontend directory and may
// write anything there. It cannot redirect show to another backend (the
// toolstack's /libxl record is used), and what it writes is printed quoted,
// never as terminal escapes; list and destroy still work.
func TestHostileGuestFrontend(t *testing.T) {
	h := startHost(t, nil)
	before := h.dump(t)
	cfg := writeCfg(t, "h.cfg", "name=\"h\"\nvif=[\"queues=1\"]\n")
	if r := h.xfeat(t, "create", cfg); r.Code != 0 {
		t.Fatalf("create: %d %s", r.Code, r.Err)
	}
	ctx := context.Background()
	guest, err := xsclient.Dial(ctx, filepath.Join(h.Dir, "domains", "1", "socket"))
	if err != nil {
		t.Fatal(err)
	}
	defer guest.Close()
	fe := "/local/domain/1/device/vif/0"
	for k, v := range map[string]string{
		"backend":                fe, // points back at itself
		"state":                  "4\x1b[2J",
		"multi-queue-num-queues": "\x1b]0;pwned\x07",
	} {
		if err := guest.WriteString(ctx, fe+"/"+k, v); err != nil {
			t.Fatalf("guest write %s: %v", k, err)
		}
	}
	r := h.xfeat(t, "show", "vif", "h/0")
	if r.Code != 0 || strings.Contains(r.Out, "\x1b") || !strings.Contains(r.Out, `multi-queue-max-queues	1	4	1	"\x1b]0;pwned\a"	`) {
		t.Errorf("show with a hostile frontend: %d\n%q\n%s", r.Code, r.Out, r.Err)
	}
	r = h.xfeat(t, "show", "vif", "h/0", "-o", "json")
	var rep showJSON
	if err := json.Unmarshal([]byte(r.Out), &rep); err != nil || rep.Backend != "/local/domain/0/backend/vif/1/0" {
		t.Errorf("show -o json: %v %+v", err, rep)
	}
	// (The real backend and frontend react to the garbage state; whatever
	// they do, list still works.)
	if r := h.xfeat(t, "list"); r.Code != 0 || !strings.Contains(r.Out, "1\th\tvif 1/0\t") || strings.Contains(r.Out, "\x1b") {
		t.Errorf("list: %d %q", r.Code, r.Out)
	}
	if r := h.xfeat(t, "destroy", "h", "--wait", "3s"); r.Code != 0 {
		t.Fatalf("destroy: %d %s", r.Code, r.Err)
	}
	if after := h.dump(t); after != before {
		t.Fatalf("tree changed:\n%s", diffLines(before, after))
	}
}
