//go:build xenhost

package xenhost_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/convert"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/tests/internal/libvirtoracle"
)

// oracleCase is one xl.cfg file of the corpus put to both converters.
type oracleCase struct {
	path string
	src  []byte
	file *parser.File
	ours []byte // xfeat's XML (convert.ToLibvirt)
	pv   bool   // a PV guest: this host's libvirt judges it as it is
	// rendition is the file in the language both xl and libvirt's reader
	// read alike, written when libvirt's reader refuses or misreads the
	// original; renditionWhy says why there is none when one is needed.
	rendition    []byte
	renditionWhy string
	omitted      []string // settings the rendition leaves out
	// Where dom0 finds the original and the rendition, and libvirt's
	// answers for them.
	dom0Orig, dom0Rend string
	orig, rend         *libvirtoracle.Result
}

// TestLibvirtConverterAgrees puts every file of the config corpus
// (tests/cfgcompat/testdata, examples, convert/testdata) that xfeat
// validate accepts and that requests no xfeat feature to libvirt 9's own
// converter (`virsh -c xen:/// domxml-from-native xen-xl`, libvirtd with
// only its libxl driver, in this host's dom0) and compares its XML with
// `xfeat convert --to libvirt`'s on the elements both write
// (libvirtoracle.Compare, whose list of deliberate differences is logged).
//
// libvirt reads xl.cfg with its own reader, which refuses most of xl's
// syntax (hexadecimal numbers, +=, escapes, comments inside lists) and
// reads some of it otherwise (010 is ten, a key set twice is its first
// value); libvirtoracle.ReadConf predicts each refusal, with libvirt's own
// message, and each misreading. A refused or misread file is also put to
// libvirt as its rendition: the same settings as xl reads them, written so
// that both read them alike. Facts of settings libvirt still misreads are
// exempt; everything else must agree.
//
// Under QEMU's TCG there is no VMX, so Xen offers PV guests only and
// libvirt refuses HVM and PVH files ("could not find capabilities"). PV
// files are judged by libvirtd as it is; HVM and PVH files by a second
// libvirtd started with hvmcaps.so preloaded
// (tests/internal/libvirtoracle/testdata), which adds the HVM guest
// capabilities Xen reports on a host with VMX to what libxl tells libvirt:
// the converter's code is libvirt's own, only the host's capability list
// differs. Both are counted apart.
func TestLibvirtConverterAgrees(t *testing.T) {
	var files []string
	for _, g := range []string{"tests/cfgcompat/testdata/*.cfg", "examples/*.cfg", "convert/testdata/*.cfg"} {
		m, _ := filepath.Glob(filepath.Join(repoRoot, g))
		files = append(files, m...)
	}
	if len(files) < 200 {
		t.Fatalf("only %d files in the corpus", len(files))
	}
	share := filepath.Join(vm.Dir(), "libvirt-oracle")
	if err := os.MkdirAll(share, 0o755); err != nil {
		t.Fatal(err)
	}
	skipped := map[string]int{}
	var cases []*oracleCase
	for _, path := range files {
		c, why := newOracleCase(t, path)
		if c == nil {
			skipped[why]++
			continue
		}
		c.dom0Orig = path // dom0's / is this machine's
		if c.rendition != nil {
			name := strings.TrimSuffix(filepath.Base(path), ".cfg") + ".rendition.cfg"
			if err := os.WriteFile(filepath.Join(share, name), c.rendition, 0o644); err != nil {
				t.Fatal(err)
			}
			c.dom0Rend = "/xenhost/libvirt-oracle/" + name
		}
		cases = append(cases, c)
	}
	shim := filepath.Join(share, "hvmcaps.so")
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", shim,
		filepath.Join(repoRoot, "tests/internal/libvirtoracle/testdata/hvmcaps.c"), "-ldl").CombinedOutput(); err != nil {
		t.Fatalf("gcc hvmcaps.c (libxen-dev: make deps): %v\n%s", err, out)
	}

	// One scenario: a libvirtd for the PV files, then one with the shim
	// for the others; each converts its files in a single virsh (every
	// process costs tens of milliseconds under emulation), markers on
	// both streams telling the answers apart.
	var plain, hvm []string
	for _, c := range cases {
		list := &hvm
		if c.pv {
			list = &plain
		}
		*list = append(*list, c.dom0Orig)
		if c.dom0Rend != "" {
			*list = append(*list, c.dom0Rend)
		}
	}
	for _, f := range append(append([]string(nil), plain...), hvm...) {
		if !safePath.MatchString(f) {
			t.Fatalf("%s: a path virsh's command line cannot carry", f)
		}
	}
	r := scenario(t, "libvirt-oracle", `
mkdir -p /run/libvirt /var/lib/libvirt/libxl /var/log/libvirt /var/cache/libvirt /tmp/lvdrv
ln -sf /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_libxl.so /tmp/lvdrv/
# phase NAME PRELOAD FILES: a libvirtd with only the libxl driver (the QEMU
# driver wants a libvirt-qemu user, the network driver dnsmasq), one virsh
# for all FILES.
phase() {
	local name=$1 preload=$2 files=$3 pid cmds="" i=0 f
	[ -n "$files" ] || return 0
	LD_PRELOAD=$preload LIBVIRT_DRIVER_DIR=/tmp/lvdrv timeout 900 libvirtd > "$XH_OUT/libvirtd.$name.log" 2>&1 &
	pid=$!
	for ((i = 0; i < 1200; i++)); do
		[ -S /run/libvirt/libvirt-sock ] && virsh -c xen:/// version > /dev/null 2>&1 && break
		kill -0 $pid 2>/dev/null || { echo "libvirtd ($name) exited" >&2; return 1; }
		sleep 0.25
	done
	virsh -c xen:/// capabilities > "$XH_OUT/caps.$name.xml" || { echo "libvirtd ($name) does not answer" >&2; kill $pid; return 1; }
	i=0
	for f in $files; do
		i=$((i + 1))
		cmds="$cmds echo @@$i@@; echo --err @@$i@@; domxml-from-native xen-xl $f;"
	done
	virsh -q -c xen:/// "$cmds" > "$XH_OUT/$name.out" 2> "$XH_OUT/$name.err"
	kill $pid
	wait $pid
	# The next libvirtd makes its own socket.
	for ((i = 0; i < 120; i++)); do [ -S /run/libvirt/libvirt-sock ] || break; sleep 0.25; done
	rm -f /run/libvirt/libvirt-sock /run/libvirt/libvirt-sock-ro /run/libvirt/libvirt-admin-sock
}
phase plain "" "$PLAIN" || exit 1
phase hvmcaps /xenhost/libvirt-oracle/hvmcaps.so "$HVM" || exit 1
`, map[string]string{"PLAIN": strings.Join(plain, " "), "HVM": strings.Join(hvm, " ")}, 15*time.Minute)

	answers := map[string]*libvirtoracle.Result{}
	for _, p := range []struct {
		name  string
		files []string
	}{{"plain", plain}, {"hvmcaps", hvm}} {
		if len(p.files) == 0 {
			continue
		}
		got := virshAnswers(t, file(t, r, p.name+".out"), file(t, r, p.name+".err"), len(p.files))
		for i, f := range p.files {
			answers[f] = got[i]
		}
		caps := file(t, r, "caps."+p.name+".xml")
		if p.name == "hvmcaps" && !strings.Contains(caps, "<os_type>hvm</os_type>") {
			t.Fatalf("libvirtd with hvmcaps.so offers no HVM guests:\n%s", caps)
		}
	}

	// Judge each file: its original, and its rendition where there is one.
	type count struct{ files, agree int }
	var pvCount, hvmCount count
	judgedBy := map[string]int{}     // "original", "rendition", "original and rendition"
	refused := map[string][]string{} // why -> files (originals)
	misread := map[string][]string{} // setting: why -> files
	unjudged := map[string][]string{}
	onlyLibvirt, onlyXfeat := map[string]int{}, map[string]int{}
	omitted := map[string][]string{} // setting -> files compared without it
	seen := map[string][]string{}    // deliberate difference -> files
	for _, c := range cases {
		c.orig, c.rend = answers[c.dom0Orig], answers[c.dom0Rend]
		n := &hvmCount
		if c.pv {
			n = &pvCount
		}
		n.files++
		// Both the original and the rendition are judged where both are
		// there: the rendition carries what libvirt misreads in the
		// original as xl reads it.
		var compared []string
		failed, lastRefusal := false, ""
		for _, which := range []string{"original", "rendition"} {
			src, res, g := c.src, c.orig, c.file
			if which == "rendition" {
				if c.rendition == nil {
					continue
				}
				src, res = c.rendition, c.rend
				var d parser.Diagnostics
				if g, d = parser.Parse(c.path+".rendition", src, parser.Options{Strict: true}); d.HasErrors() {
					t.Fatalf("%s: rendition: %v", rel(c.path), d.Errs())
				}
			}
			v, err := libvirtoracle.Judge(c.ours, g, src, *res)
			if err != nil {
				t.Errorf("%s (%s): %v", rel(c.path), which, err)
				failed = true
				continue
			}
			for _, d := range v.Deliberate {
				if l := seen[d]; len(l) == 0 || l[len(l)-1] != rel(c.path) {
					seen[d] = append(seen[d], rel(c.path))
				}
			}
			if v.Refused != "" {
				if which == "original" {
					refused[v.Refused] = append(refused[v.Refused], rel(c.path))
				}
				lastRefusal = v.Refused
				continue
			}
			for name, why := range v.Misread {
				if which == "original" {
					k := name + ": " + why
					misread[k] = append(misread[k], rel(c.path))
				}
			}
			if len(v.Diffs) > 0 {
				t.Errorf("%s (%s): xfeat's XML and libvirt's disagree:\n  %s\n--- xfeat:\n%s--- libvirt:\n%s", rel(c.path), which,
					diffLines(v.Diffs), c.ours, res.XML)
				failed = true
				continue
			}
			for _, p := range libvirtoracle.OnlyIn(res.XML, c.ours) {
				onlyLibvirt[p]++
			}
			for _, p := range libvirtoracle.OnlyIn(c.ours, res.XML) {
				onlyXfeat[p]++
			}
			if which == "rendition" {
				for _, name := range c.omitted {
					omitted[name] = append(omitted[name], rel(c.path))
				}
			}
			compared = append(compared, which)
		}
		switch {
		case failed:
		case len(compared) > 0:
			n.agree++
			judgedBy[strings.Join(compared, " and ")]++
		default:
			why := lastRefusal
			if c.renditionWhy != "" {
				why += "; no rendition: " + c.renditionWhy
			}
			unjudged[why] = append(unjudged[why], rel(c.path))
		}
	}

	t.Logf("corpus: %d files; not put to libvirt: %s", len(files), countText(skipped))
	t.Logf("compared: %d PV files (libvirtd as it is): %d agree; %d HVM/PVH files (libvirtd with hvmcaps.so): %d agree",
		pvCount.files, pvCount.agree, hvmCount.files, hvmCount.agree)
	t.Logf("compared on: %s", countText(judgedBy))
	logGroups(t, "originals libvirt refuses (xl reads them)", refused)
	logGroups(t, "originals libvirt misreads (its facts exempt)", misread)
	logGroups(t, "compared without a setting libvirt's converter refuses and no fact needs", omitted)
	logGroups(t, "not judgeable", unjudged)
	// Every deliberate difference listed is one libvirt really makes.
	t.Logf("deliberate differences (libvirtoracle.Deliberate), with the files they were seen in:")
	for _, d := range libvirtoracle.Deliberate {
		files := seen[d.Name]
		t.Logf("  %s: %s; %d files (%s)", d.Name, d.Why, len(files), strings.Join(files[:min(2, len(files))], ", "))
		if len(files) == 0 {
			t.Errorf("deliberate difference %q seen in no file: not one libvirt makes, or not tested", d.Name)
		}
	}
	t.Logf("elements only libvirt writes, in the files compared: %s", countText(onlyLibvirt))
	t.Logf("elements only xfeat writes, in the files compared: %s", countText(onlyXfeat))
	if pvCount.agree == 0 || hvmCount.agree == 0 {
		t.Errorf("nothing compared: %d PV, %d HVM/PVH files agree", pvCount.agree, hvmCount.agree)
	}
}

// safePath: a path virsh's command line (split at blanks and ';') carries.
var safePath = regexp.MustCompile(`^/[A-Za-z0-9_./+-]+$`)

// newOracleCase reads path and converts it, or says why it is not put to
// libvirt.
func newOracleCase(t *testing.T, path string) (*oracleCase, string) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, diags := parser.Parse(path, src, parser.Options{})
	if diags.HasErrors() {
		return nil, "xfeat validate refuses it"
	}
	cfg, diags := devspec.CheckFile(f)
	if diags.HasErrors() {
		return nil, "xfeat validate refuses it"
	}
	for _, v := range cfg.Vifs {
		if len(v.Features) > 0 {
			return nil, "it requests xfeat features"
		}
	}
	for _, d := range cfg.Disks {
		if len(d.Features) > 0 {
			return nil, "it requests xfeat features"
		}
	}
	ours, diags := convert.ToLibvirt(f, convert.Options{})
	if ours == nil {
		return nil, "xfeat convert refuses it: " + diags.Errs().Error()
	}
	facts, err := libvirtoracle.Facts(ours)
	if err != nil {
		t.Fatalf("%s: xfeat's XML: %v", rel(path), err)
	}
	c := &oracleCase{path: path, src: src, file: f, ours: ours, pv: facts["os/type"] == "linux"}
	entries, cerr := libvirtoracle.ReadConf(src)
	refusal := ""
	if cerr == nil {
		refusal, _ = libvirtoracle.ConverterRefusal(entries)
	}
	if cerr != nil || refusal != "" || len(libvirtoracle.Misreadings(f, entries)) > 0 {
		c.rendition, c.omitted, c.renditionWhy, err = libvirtoracle.Rendition(f)
		if err != nil {
			t.Fatal(err)
		}
	}
	return c, ""
}

// virshAnswers splits the output of one virsh run (n conversions, each
// announced by "@@I@@" on both streams) into libvirt's answers.
func virshAnswers(t *testing.T, stdout, stderr string, n int) []*libvirtoracle.Result {
	t.Helper()
	out := make([]*libvirtoracle.Result, n)
	for i := range out {
		out[i] = &libvirtoracle.Result{}
	}
	seen := map[int]bool{}
	split := func(s string, marker *regexp.Regexp, set func(i int, text string)) {
		locs := marker.FindAllStringSubmatchIndex(s, -1)
		for k, l := range locs {
			var i int
			fmt.Sscan(s[l[2]:l[3]], &i)
			end := len(s)
			if k+1 < len(locs) {
				end = locs[k+1][0]
			}
			if i < 1 || i > n {
				t.Fatalf("virsh marker %d of %d", i, n)
			}
			set(i-1, s[l[1]:end])
		}
	}
	split(stdout, regexp.MustCompile(`@@(\d+)@@`), func(i int, text string) {
		seen[i] = true
		out[i].XML = []byte(strings.TrimSpace(text))
	})
	split(stderr, regexp.MustCompile(`error: @@(\d+)@@\n`), func(i int, text string) {
		var msgs []string
		for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				msgs = append(msgs, strings.TrimPrefix(line, "error: "))
			}
		}
		out[i].Err = strings.Join(msgs, "\n")
	})
	for i, a := range out {
		if !seen[i] {
			t.Fatalf("virsh gave no answer %d of %d:\n%s\n%s", i+1, n, stdout, stderr)
		}
		if (len(a.XML) == 0) == (a.Err == "") {
			t.Fatalf("virsh answer %d: XML %q and error %q", i+1, a.XML, a.Err)
		}
	}
	return out
}

func diffLines(ds []libvirtoracle.Diff) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.String()
	}
	return strings.Join(s, "\n  ")
}

func countText(m map[string]int) string {
	var s []string
	for k, n := range m {
		s = append(s, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

func logGroups(t *testing.T, title string, m map[string][]string) {
	t.Helper()
	total := 0
	var keys []string
	for k, v := range m {
		keys = append(keys, k)
		total += len(v)
	}
	sort.Strings(keys)
	t.Logf("%s: %d", title, total)
	for _, k := range keys {
		v := m[k]
		t.Logf("  %d: %s (%s)", len(v), k, strings.Join(v[:min(3, len(v))], ", "))
	}
}
