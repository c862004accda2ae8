package testutil

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// CFacts compiles the C program src with gcc against the installed headers
// (Xen's public ones from libxen-dev, Linux's uapi ones), runs it and
// returns what it prints, one fact a line, its name then its decimal value
// ("offsetof struct blkif_request.id 8", "const NETIF_RSP_DROPPED -1"): what
// gcc makes of the headers, for a test to compare Go's layout with.
func CFacts(t testing.TB, src string) map[string]int64 {
	t.Helper()
	NeedTool(t, "gcc", "gcc")
	NeedFile(t, "/usr/include/xen/io/ring.h", "Xen's public headers (Debian package libxen-dev)")
	bin := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), ".c"))
	if b, err := exec.Command("gcc", "-O2", "-Wall", "-Werror", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", src, err, b)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	facts := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			t.Fatalf("%s printed %q: want a name and a value", src, sc.Text())
		}
		v, err := strconv.ParseInt(f[len(f)-1], 10, 64)
		if err != nil {
			t.Fatalf("%s printed %q: %v", src, sc.Text(), err)
		}
		facts[strings.Join(f[:len(f)-1], " ")] = v
	}
	return facts
}
