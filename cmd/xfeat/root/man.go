package root

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
)

// ManDate is the date the generated pages carry in their .TH line when
// SOURCE_DATE_EPOCH is not set. It is part of the source, never read from the
// clock: cobra/doc stamps a page with the current month when given no date, so
// pages generated in December would differ from those committed in November
// and every month change would make them stale. Bump it with the pages when a
// release changes what they say.
const ManDate = "2026-12-04"

// manHeader carries everything of a page's .TH line but the date, which
// ManPages sets from pageDate on every page.
var manHeader = doc.GenManHeader{
	Title:   "XFEAT",
	Section: "1",
	Source:  "xfeat",
	Manual:  "xfeat manual",
}

// pageDate is the date of the generated pages: SOURCE_DATE_EPOCH (seconds
// since 1970, as reproducible builds set it) when set, else ManDate. getenv
// is os.Getenv outside tests.
func pageDate(getenv func(string) string) (time.Time, error) {
	if s := getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q is not a number of seconds: %w", s, err)
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	return time.Parse(time.DateOnly, ManDate)
}

// ManPages renders the man page of every command of the tree, keyed by file
// name (xfeat.1, xfeat-parse.1, ...). The output depends on the command tree
// and pageDate alone.
func ManPages() (map[string][]byte, error) {
	date, err := pageDate(os.Getenv)
	if err != nil {
		return nil, err
	}
	return manPages(date)
}

func manPages(date time.Time) (map[string][]byte, error) {
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
		h := manHeader
		h.Date = &date // never nil: cobra/doc would read the clock
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
