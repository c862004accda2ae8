package root

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
)

// manHeader is fixed (no date) so that generated pages are reproducible and a
// test can tell a stale page from a fresh one.
var manHeader = &doc.GenManHeader{
	Title:   "XFEAT",
	Section: "1",
	Source:  "xfeat",
	Manual:  "xfeat manual",
}

// ManPages renders the man page of every command of the tree, keyed by file
// name (xfeat.1, xfeat-parse.1, ...).
func ManPages() (map[string][]byte, error) {
	io, _, _, _ := iostreams.Test()
	cmd := NewCmdRoot(&cmdutil.Factory{IO: io, Version: "devel"})
	cmd.DisableAutoGenTag = true
	cmd.InitDefaultCompletionCmd()
	pages := map[string][]byte{}
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		if c != cmd && (!c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand()) {
			return nil
		}
		c.DisableAutoGenTag = true
		var buf bytes.Buffer
		h := *manHeader
		if err := doc.GenMan(c, &h, &buf); err != nil {
			return err
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
		pages[name] = buf.Bytes()
		for _, sub := range c.Commands() {
			if err := walk(sub); err != nil {
				return err
			}
		}
		return nil
	}
	return pages, walk(cmd)
}

// GenManTree writes every page of ManPages into dir, replacing stale
// generated pages (xfeat*.1) and leaving hand-written ones alone.
func GenManTree(dir string) error {
	pages, err := ManPages()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "xfeat*.1"))
	for _, p := range old {
		if _, keep := pages[filepath.Base(p)]; !keep {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
	}
	for name, b := range pages {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
