package root

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestManPagesCurrent fails when man/ does not match the command tree: run
// `make man` and commit the result.
func TestManPagesCurrent(t *testing.T) {
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
