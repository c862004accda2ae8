//go:build xenhost

package xenhost_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// xlVerdict is what `xl create -n FILE` (a dry run: parse and check, create
// nothing) and `xfeat validate --strict FILE` said of one file.
type xlVerdict struct {
	file           string
	xlExit, xfExit int
	xlOut, xfOut   string
}

// deliberate are the ways xfeat validate knowingly differs from xl 4.17;
// each names how to recognise it in the two outputs.
var deliberate = []struct {
	name, why string
	match     func(v xlVerdict) bool
}{
	{
		"xfeat keys in a disk spec",
		"a disk's feature requests are xfeat's; xl's disk parser knows none of them (xfeat fmt --for-xl writes the file without them)",
		func(v xlVerdict) bool {
			return v.xlExit != 0 && v.xfExit == 0 && allDiskErrorsNameFeatures(v.xlOut)
		},
	},
	{
		"unknown or misplaced key in a vif spec",
		"xl ignores an unknown vif key with a warning (\"unrecognized argument\"); xfeat refuses it, since a typo or a disk feature asked of a vif would otherwise be lost silently",
		func(v xlVerdict) bool {
			return v.xlExit == 0 && v.xfExit != 0 && strings.Contains(v.xlOut, "unrecognized argument") &&
				regexp.MustCompile(`vif #\d+: (unknown vif key|.*is a (disk|vbd) feature)`).MatchString(v.xfOut)
		},
	},
	{
		"PV guest without kernel or bootloader",
		"the sandbox host boots no kernel, so a file for it needs none; on a real host xl itself refuses it",
		func(v xlVerdict) bool {
			return v.xlExit != 0 && v.xfExit == 0 && onlyXlError(v.xlOut, "Neither kernel nor bootloader specified")
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

var diskParseError = regexp.MustCompile("config parsing error in disk specification: unknown parameter: near `([a-z-]+)=")

// allDiskErrorsNameFeatures: xl refused the file only for disk parameters
// that are xfeat feature requests.
func allDiskErrorsNameFeatures(out string) bool {
	seen := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "Parsing config") || strings.HasPrefix(line, "Warning:") ||
			strings.HasPrefix(line, "unrecognized argument") {
			continue
		}
		m := diskParseError.FindStringSubmatch(line)
		if m == nil || !diskFeatureKeys[m[1]] {
			return false
		}
		seen = true
	}
	return seen
}

// diskFeatureKeys are the disk spec keys of xfeat's feature requests
// (xfeat-requests(5)).
var diskFeatureKeys = map[string]bool{
	"features": true, "queues": true, "max-ring-page-order": true, "max-indirect-segments": true,
	"persistent": true, "flush": true, "barrier": true, "discard": true,
}

// TestValidateAgreesWithXl: for every file of the project's config corpus
// and examples, xl's own dry run on the real host (`xl create -n`: parse
// and check, create nothing) and `xfeat validate --strict` accept or refuse
// alike, but for the deliberate differences listed above.
func TestValidateAgreesWithXl(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repoRoot, "tests/cfgcompat/testdata/*.cfg"))
	ex, _ := filepath.Glob(filepath.Join(repoRoot, "examples/*.cfg"))
	files = append(files, ex...)
	if len(files) < 200 {
		t.Fatalf("only %d files in the corpus", len(files))
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
`, map[string]string{"FILES": strings.Join(files, " ")}, 10*time.Minute)

	verdicts := parseVerdicts(t, file(t, r, "verdicts.txt"))
	if len(verdicts) != len(files) {
		t.Fatalf("%d verdicts for %d files", len(verdicts), len(files))
	}
	// xfeat on this machine: the same binary and files dom0 sees, without
	// a Go program's start-up under emulation (about a second each).
	for _, f := range files {
		v := verdicts[f]
		out, err := exec.Command(xfeatBin, "validate", "--strict", f).CombinedOutput()
		v.xfOut = string(out)
		if err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatal(err)
			}
			v.xfExit = ee.ExitCode()
		}
		verdicts[f] = v
	}
	agree := 0
	diffs := map[string][]string{}
	for _, f := range files {
		v := verdicts[f]
		if (v.xlExit == 0) == (v.xfExit == 0) {
			agree++
			continue
		}
		known := ""
		for _, d := range deliberate {
			if d.match(v) {
				known = d.name
				break
			}
		}
		if known == "" {
			t.Errorf("%s: xl create -n exits %d, xfeat validate --strict %d\n--- xl:\n%s\n--- xfeat:\n%s",
				rel(f), v.xlExit, v.xfExit, v.xlOut, v.xfOut)
			continue
		}
		diffs[known] = append(diffs[known], rel(f))
	}
	t.Logf("xl create -n and xfeat validate: %d files, %d agree, %d deliberate differences", len(files), agree, len(files)-agree)
	names := make([]string, 0, len(diffs))
	for n := range diffs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Logf("  %s: %d (%s)", n, len(diffs[n]), strings.Join(diffs[n][:min(3, len(diffs[n]))], ", "))
	}
}

func rel(f string) string {
	r, err := filepath.Rel(repoRoot, f)
	if err != nil {
		return f
	}
	return r
}

func parseVerdicts(t *testing.T, s string) map[string]xlVerdict {
	t.Helper()
	out := map[string]xlVerdict{}
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
		out[h[0]] = xlVerdict{file: h[0], xlExit: exit, xlOut: strings.Join(body, "\n")}
	}
	return out
}
