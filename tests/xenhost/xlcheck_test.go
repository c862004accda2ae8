//go:build xenhost

package xenhost_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// judged is what `xl create -n` (a dry run: parse and check, create
// nothing) said of a file, and what xfeat said of it on this machine.
type judged struct {
	file      string
	xfExit    int
	xfOut     string
	xlExit    int    // the file as written
	xlOut     string //
	forXl     string // `xfeat fmt --for-xl FILE` (when xfeat accepts FILE)
	forXlExit int    // xl create -n on forXl
	forXlOut  string
}

// deliberate are the ways xfeat validate knowingly differs from xl 4.17;
// each says how to recognise it in the two outputs.
var deliberate = []struct {
	name, why string
	match     func(j judged) bool
}{
	{
		"unknown or misplaced key in a vif spec",
		"xl ignores an unknown vif key with a warning (\"unrecognized argument\"); xfeat refuses it, since a typo or a disk feature asked of a vif would otherwise be lost silently",
		func(j judged) bool {
			return j.xlExit == 0 && j.xfExit != 0 && strings.Contains(j.xlOut, "unrecognized argument") &&
				regexp.MustCompile(`vif #\d+: (unknown vif key|.*is a (disk|vbd) feature)`).MatchString(j.xfOut)
		},
	},
	{
		"PV guest without kernel or bootloader",
		"the sandbox host boots no kernel, so a file for it needs none; on a real host xl itself refuses it",
		func(j judged) bool {
			return j.xfExit == 0 && j.forXlExit != 0 && onlyXlError(j.forXlOut, "Neither kernel nor bootloader specified")
		},
	},
}

// onlyXlError: msg is the one error in xl's output.
func onlyXlError(out, msg string) bool {
	found := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == msg:
			found = true
		case line == "", strings.HasPrefix(line, "Parsing config"), strings.HasPrefix(line, "Warning:"),
			strings.HasPrefix(line, "unrecognized argument"):
		default:
			return false
		}
	}
	return found
}

// TestValidateAgreesWithXl: for every file of the project's config corpus
// and examples, xl's own dry run on the real host and xfeat agree:
//   - a file `xfeat validate --strict` refuses, xl refuses;
//   - a file it accepts, xl accepts once `xfeat fmt --for-xl` has taken
//     xfeat's requests out (xl refuses a disk spec with a key it does not
//     know, so xl may refuse such a file as written);
//
// but for the deliberate differences listed above.
func TestValidateAgreesWithXl(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repoRoot, "tests/cfgcompat/testdata/*.cfg"))
	ex, _ := filepath.Glob(filepath.Join(repoRoot, "examples/*.cfg"))
	files = append(files, ex...)
	if len(files) < 200 {
		t.Fatalf("only %d files in the corpus", len(files))
	}
	// xfeat on this machine: the same binary and files dom0 sees, without
	// a Go program's start-up under emulation (about a second each).
	forXlDir := filepath.Join(vm.Dir(), "forxl")
	if err := os.MkdirAll(forXlDir, 0o755); err != nil {
		t.Fatal(err)
	}
	all := map[string]*judged{}
	var xlFiles []string
	for i, f := range files {
		j := &judged{file: f}
		all[f] = j
		xlFiles = append(xlFiles, f)
		j.xfExit, j.xfOut = runXfeat(t, "validate", "--strict", f)
		if j.xfExit != 0 {
			continue
		}
		b, err := exec.Command(xfeatBin, "fmt", "--for-xl", f).Output()
		if err != nil {
			t.Errorf("%s: validate accepts it, fmt --for-xl: %v", rel(f), err)
			continue
		}
		if src, err := os.ReadFile(f); err == nil && string(src) == string(b) {
			j.forXl = f // nothing taken out: xl judges the file once
			continue
		}
		j.forXl = filepath.Join(forXlDir, fmt.Sprintf("%03d-%s", i, filepath.Base(f)))
		if err := os.WriteFile(j.forXl, b, 0o644); err != nil {
			t.Fatal(err)
		}
		xlFiles = append(xlFiles, "/xenhost/forxl/"+filepath.Base(j.forXl))
	}

	// xl in dom0, two at a time (dom0 has two vcpus); each file's record
	// is FILE<TAB>EXIT, its output, and a line "@@end". Every process
	// costs tens of milliseconds under emulation: only xl is started.
	r := scenario(t, "xl-dry-run", `
i=0
for f in $FILES; do
	i=$((i + 1))
	{ out=$(xl create -n "$f" 2>&1 >/dev/null); printf '%s\t%s\n%s\n@@end\n' "$f" "$?" "$out" > "$XH_OUT/v.$i"; } &
	[ $((i % 2)) = 0 ] && wait
done
wait
cat "$XH_OUT"/v.* > "$XH_OUT/verdicts.txt"
`, map[string]string{"FILES": strings.Join(xlFiles, " ")}, 10*time.Minute)
	xl := parseXl(t, file(t, r, "verdicts.txt"))
	if len(xl) != len(xlFiles) {
		t.Fatalf("%d xl verdicts for %d files", len(xl), len(xlFiles))
	}

	agree, asIs := 0, 0
	diffs := map[string][]string{}
	for _, f := range files {
		j := all[f]
		j.xlExit, j.xlOut = xl[f].exit, xl[f].out
		switch j.forXl {
		case "":
		case f:
			j.forXlExit, j.forXlOut = j.xlExit, j.xlOut
		default:
			v := xl["/xenhost/forxl/"+filepath.Base(j.forXl)]
			j.forXlExit, j.forXlOut = v.exit, v.out
		}
		ok := false
		switch {
		case j.xfExit != 0:
			ok = j.xlExit != 0
		default:
			ok = j.forXlExit == 0
			if ok && j.xlExit != 0 {
				asIs++
			}
		}
		if ok {
			agree++
			continue
		}
		for _, d := range deliberate {
			if d.match(*j) {
				diffs[d.name] = append(diffs[d.name], rel(f))
				ok = true
				break
			}
		}
		if !ok {
			t.Errorf("%s: xfeat validate --strict exits %d; xl create -n exits %d as written, %d after fmt --for-xl\n--- xfeat:\n%s\n--- xl:\n%s\n--- xl, --for-xl:\n%s",
				rel(f), j.xfExit, j.xlExit, j.forXlExit, j.xfOut, j.xlOut, j.forXlOut)
		}
	}
	t.Logf("xl create -n and xfeat: %d files, %d agree (%d of them refused by xl as written, accepted after fmt --for-xl), %d deliberate differences",
		len(files), agree, asIs, len(files)-agree)
	names := make([]string, 0, len(diffs))
	for n := range diffs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Logf("  %s: %d (%s)", n, len(diffs[n]), strings.Join(diffs[n][:min(3, len(diffs[n]))], ", "))
	}
	if asIs == 0 {
		t.Error("no file was refused by xl as written and accepted after fmt --for-xl: the corpus no longer exercises it")
	}
}

// runXfeat runs the xfeat binary of this run and returns its exit status
// and combined output.
func runXfeat(t *testing.T, args ...string) (int, string) {
	t.Helper()
	out, err := exec.Command(xfeatBin, args...).CombinedOutput()
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		return ee.ExitCode(), string(out)
	}
	return 0, string(out)
}

func rel(f string) string {
	r, err := filepath.Rel(repoRoot, f)
	if err != nil {
		return f
	}
	return r
}

type xlResult struct {
	exit int
	out  string
}

func parseXl(t *testing.T, s string) map[string]xlResult {
	t.Helper()
	out := map[string]xlResult{}
	lines := strings.Split(s, "\n")
	for i := 0; i < len(lines); i++ {
		h := strings.Split(lines[i], "\t")
		if len(h) != 2 {
			continue
		}
		exit, err := strconv.Atoi(h[1])
		if err != nil {
			t.Fatalf("verdict header %q", lines[i])
		}
		var body []string
		for i++; i < len(lines) && lines[i] != "@@end"; i++ {
			body = append(body, lines[i])
		}
		out[h[0]] = xlResult{exit, strings.Join(body, "\n")}
	}
	return out
}
