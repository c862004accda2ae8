package root

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestManPagesCurrent fails when man/ does not match the command tree: run
// `make man` and commit the result.
func TestManPagesCurrent(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	pages, err := ManPages()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "..", "man")
	for name, want := range pages {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("man/%s missing: run make man", name)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("man/%s is stale: run make man", name)
		}
	}
	committed, _ := filepath.Glob(filepath.Join(dir, "xfeat*.1"))
	for _, p := range committed {
		if _, ok := pages[filepath.Base(p)]; !ok {
			t.Errorf("man/%s has no command: run make man", filepath.Base(p))
		}
	}
}

// TestManPagesDateFromSource: every page carries ManDate, whatever the
// clock says, unless SOURCE_DATE_EPOCH gives another date; a bad
// SOURCE_DATE_EPOCH is an error, not a page stamped with the clock.
func TestManPagesDateFromSource(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	pages, err := ManPages()
	if err != nil {
		t.Fatal(err)
	}
	d, err := time.Parse(time.DateOnly, ManDate)
	if err != nil {
		t.Fatalf("ManDate %q: %v", ManDate, err)
	}
	want := fmt.Sprintf(`.TH "XFEAT" "1" %q`, d.Format("Jan 2006"))
	for name, b := range pages {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s: no %s line", name, want)
		}
	}

	// 2031-06-15 is far from ManDate: the pages must say Jun 2031.
	t.Setenv("SOURCE_DATE_EPOCH", "1939334400")
	pages, err = ManPages()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range pages {
		if !bytes.Contains(b, []byte(`.TH "XFEAT" "1" "Jun 2031"`)) {
			t.Errorf("%s with SOURCE_DATE_EPOCH: .TH line %q", name, bytes.SplitN(b, []byte("\n"), 3)[1])
		}
	}

	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if _, err := ManPages(); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Fatalf("bad SOURCE_DATE_EPOCH: err = %v, want one naming it", err)
	}
}
