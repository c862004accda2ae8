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
	"github.com/spf13/pflag"

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
// and pageDate alone. Help text is plain text (it is what --help prints);
// cobra/doc reads it as markdown, so it is escaped first (plainForMarkdown),
// and xfeat(1) gets the sections no command's help holds (rootSections).
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
	escaped := map[*pflag.Flag]bool{} // an inherited flag is shown on several pages
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		if c != cmd && (!c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand()) {
			return nil
		}
		c.DisableAutoGenTag = true
		plainForMarkdown(c, escaped)
		var buf bytes.Buffer
		h := manHeader
		h.Date = &date // never nil: cobra/doc would read the clock
		if err := doc.GenMan(c, &h, &buf); err != nil {
			return err
		}
		page := buf.Bytes()
		if c == cmd {
			var err error
			if page, err = addRootSections(page); err != nil {
				return err
			}
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
		pages[name] = page
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

// plainForMarkdown escapes c's help text and flag descriptions so that the
// markdown cobra/doc renders them from shows them as written: without it
// "config-<name>" loses "<name>" (read as an HTML tag) and "\\;" one
// backslash. The tree is manPages' own, so the text is changed in place;
// done records the flags already escaped (inherited flags are shared).
func plainForMarkdown(c *cobra.Command, done map[*pflag.Flag]bool) {
	// Use starts with the command's name, which must stay as it is: only
	// the arguments after it are text ("host <command>").
	if name, args, ok := strings.Cut(c.Use, " "); ok {
		c.Use = name + " " + markdownEscape(args)
	}
	c.Short = markdownEscape(c.Short)
	c.Long = markdownEscape(c.Long)
	for _, fs := range []*pflag.FlagSet{c.LocalFlags(), c.InheritedFlags()} {
		fs.VisitAll(func(f *pflag.Flag) {
			if !done[f] {
				f.Usage = markdownEscape(f.Usage)
				done[f] = true
			}
		})
	}
}

// markdownEscape backslash-escapes the characters markdown would take for
// markup (\, <, >, *, _) outside code: indented blocks (after a blank line)
// and `code spans` are shown verbatim by markdown already, and a backtick
// span is the one piece of markup the help text means.
func markdownEscape(s string) string {
	var b strings.Builder
	inCode, prevBlank := false, true
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		blank := strings.TrimSpace(line) == ""
		indented := strings.HasPrefix(line, "    ") || strings.HasPrefix(line, "\t")
		switch {
		case indented && (prevBlank || inCode):
			inCode = true
		case !blank:
			inCode = false
		}
		prevBlank = blank
		if inCode {
			b.WriteString(line)
			continue
		}
		inSpan := false
		for _, r := range line {
			switch {
			case r == '`':
				inSpan = !inSpan
			case !inSpan && strings.ContainsRune(`\<>*_`, r):
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// manItem is one tagged paragraph of a man page section.
type manItem struct{ Tag, Text string }

// manSection is a section of xfeat(1) added after the generated ones.
type manSection struct {
	Title string
	Items []manItem
}

// rootSections are what xfeat(1) says that no command's help holds: the
// exit codes (cmdutil.ExitCode), the environment the code reads
// (toolstack.Endpoints and xsclient.Candidates: XENSTORED_PATH,
// XENSTORED_RUNDIR; sandbox.Rundir: XDG_RUNTIME_DIR; iostreams: NO_COLOR)
// and the files it uses.
var rootSections = []manSection{
	{Title: "EXIT STATUS", Items: []manItem{
		{strconv.Itoa(int(cmdutil.ExitOK)), "Success."},
		{strconv.Itoa(int(cmdutil.ExitError)), "Failure: an invalid config file or spec (every problem is printed), XenStore or a device refused, a domain or the sandbox host not found."},
		{strconv.Itoa(int(cmdutil.ExitUsage)), "Usage error: an unknown command or flag, a missing or extra argument, a bad flag value."},
		{strconv.Itoa(int(cmdutil.ExitTimeout)), "Timeout: xfeat create gave up waiting for the devices to connect, or xfeat host stop for the host to exit."},
	}},
	{Title: "ENVIRONMENT", Items: []manItem{
		{"XENSTORED_PATH", "The XenStore to use, a unix socket or the xenbus device, as libxenstore reads it. When set it is the only one tried (--xenstore overrides it); when it names DIR/socket, DIR is also the sandbox host's run directory for xfeat io and xfeat host (--rundir overrides it). When not set, xfeat tries $XENSTORED_RUNDIR/socket, /dev/xen/xenbus, /proc/xen/xenbus, then the sandbox host's socket; xfeat create starts the sandbox host when none answers."},
		{"XENSTORED_RUNDIR", "The directory of the xenstored socket tried when XENSTORED_PATH is not set (default /var/run/xenstored), as libxenstore reads it."},
		{"XDG_RUNTIME_DIR", "For a user other than root, the sandbox host's default run directory is $XDG_RUNTIME_DIR/xfeat; for root, or when it is not set, /run/xfeat."},
		{"NO_COLOR", "When set, to any value, nothing is coloured. Otherwise colour is used only on a terminal."},
	}},
	{Title: "FILES", Items: []manItem{
		{"/var/run/xenstored/socket", "The xenstored socket libxenstore uses by default."},
		{"/dev/xen/xenbus, /proc/xen/xenbus", "XenStore through the kernel, in a domain of a real Xen host."},
		{"RUNDIR", "The sandbox host's run directory: --rundir, else the directory of XENSTORED_PATH's DIR/socket, else $XDG_RUNTIME_DIR/xfeat (a user other than root), else /run/xfeat."},
		{"RUNDIR/socket", "The sandbox host's XenStore socket for domain 0 (mode 0600)."},
		{"RUNDIR/domains/ID/socket", "The XenStore socket of guest domain ID, whose connections act as that domain."},
		{"RUNDIR/io.sock", "The socket through which xfeat io runs a workload in the host."},
		{"RUNDIR/host.pid, RUNDIR/host.log", "The pid and the log of a host started with xfeat host start."},
		{"RUNDIR/domains/domID.mem, .gnttab, .gntpin, .evtchn", "A guest's memory, grant table, grant pins and event channels."},
		{"DIR/xenstored.state", "Where xfeat xenstored --rundir DIR saves its tree when it stops."},
	}},
}

// seeAlsoRoot is added to the SEE ALSO list of xfeat(1).
const seeAlsoRoot = "xfeat-requests(5)"

// addRootSections inserts rootSections before SEE ALSO in page (the
// generated xfeat(1)) and adds seeAlsoRoot to the list there.
func addRootSections(page []byte) ([]byte, error) {
	const seeAlso = "\n.SH SEE ALSO\n"
	i := bytes.Index(page, []byte(seeAlso))
	if i < 0 {
		return nil, fmt.Errorf("xfeat.1 has no SEE ALSO section to put %d sections before", len(rootSections))
	}
	var b bytes.Buffer
	b.Write(page[:i+1])
	for _, s := range rootSections {
		fmt.Fprintf(&b, ".SH %s\n", s.Title)
		for _, it := range s.Items {
			fmt.Fprintf(&b, ".TP\n\\fB%s\\fP\n%s\n", roffEscape(it.Tag), roffEscape(it.Text))
		}
		b.WriteString("\n\n")
	}
	rest := bytes.TrimRight(page[i+1:], "\n")
	b.Write(rest)
	fmt.Fprintf(&b, ", \\fB%s\\fP\n", roffEscape(seeAlsoRoot))
	return b.Bytes(), nil
}

// roffEscape makes text safe in a roff text line: a backslash is \e and a
// hyphen \- (an ASCII hyphen a reader can copy, not a typographic one).
func roffEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
