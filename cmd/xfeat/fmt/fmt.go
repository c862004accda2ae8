// Package fmtcmd implements `xfeat fmt`: rewrite xl.cfg files in canonical
// style (see parser.Format) without changing what xl reads from them.
package fmtcmd

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	parsecmd "github.com/xfeat/xfeat/cmd/xfeat/parse"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
)

// FmtOptions are the inputs of `xfeat fmt`.
type FmtOptions struct {
	IO *iostreams.IOStreams

	Files []string // "-" is standard input
	Write bool
	Diff  bool
	Check bool
	ForXl bool
}

// NewCmdFmt builds `xfeat fmt`.
func NewCmdFmt(f *cmdutil.Factory, runF func(*FmtOptions) error) *cobra.Command {
	opts := &FmtOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "fmt [-w | -d | --check] FILE...",
		Short: "Rewrite xl.cfg files in canonical style",
		Long: `Print each FILE (- for standard input) in canonical style: one setting a line
as NAME = VALUE, double-quoted strings with only the escapes xl accepts,
lists of more than one item one item a line with a trailing comma, comments
kept. Only the layout changes: xl reads the same settings from the output.

What xfeat accepts but xl rejects is repaired: an unknown escape such as \;
is written \\; (the value stays \;, the item separator of features= in
xfeat-requests(5), but xl reads it only in that spelling), CRLF line ends
become LF, and the file ends with a newline.

  -w       write the result back to FILE (atomically: a temporary file in the
           same directory renamed over it; the mode is kept); a file already
           formatted is not touched
  -d       print a unified diff instead of the result
  --check  print the names of files that are not formatted, and exit 1 if
           there is one; nothing is written

  --for-xl print the file as xl must get it: every xfeat feature request
           (the shorthand keys and features= of vif and disk specs, see
           xfeat-requests(5)) taken out of its spec with one separating
           comma, everything else byte for byte as written, comments and
           layout included; what was taken out is listed on stderr. xl
           ignores an unknown vif key with a warning but refuses a disk that
           has one, so this is the file to give xl create. A file that also
           needs repairs xl would otherwise refuse (above) is printed in
           canonical style. The file must be valid (xfeat validate); it is
           never written back (-w and --check do not apply).

A file xl would reject is reported (every problem, FILE:LINE:COLUMN: message)
and left untouched. Exit status: 0 on success, 1 when a file is rejected,
cannot be read or written, or (with --check) is not formatted; 2 on a usage
error.`,
		Example: `  xfeat fmt guest.cfg
  xfeat fmt -w /etc/xen/*.cfg
  xfeat fmt --check /etc/xen/*.cfg || echo "run xfeat fmt -w"
  xfeat fmt --for-xl guest.cfg > guest.xl.cfg && xl create guest.xl.cfg`,
		Args: cmdutil.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Files = args
			if opts.Write && opts.Check {
				return cmdutil.FlagErrorf("-w and --check cannot be used together")
			}
			if opts.ForXl && (opts.Write || opts.Check) {
				return cmdutil.FlagErrorf("--for-xl prints the file for xl; it cannot be combined with -w or --check")
			}
			for _, f := range args {
				if f == "-" && opts.Write {
					return cmdutil.FlagErrorf("-w cannot write back to standard input")
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return fmtRun(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Write, "write", "w", false, "write the result to the file instead of standard output")
	cmd.Flags().BoolVarP(&opts.Diff, "diff", "d", false, "print a unified diff of the changes")
	cmd.Flags().BoolVar(&opts.Check, "check", false, "exit 1 and name the files that are not formatted")
	cmd.Flags().BoolVar(&opts.ForXl, "for-xl", false, "take out xfeat's feature requests, keeping everything else as written")
	return cmd
}

func fmtRun(opts *FmtOptions) error {
	failed := false
	for _, file := range opts.Files {
		if err := fmtOne(opts, file); err != nil {
			if err != cmdutil.ErrSilent {
				fmt.Fprintf(opts.IO.ErrOut, "xfeat: %v\n", err)
			}
			failed = true
		}
	}
	if failed {
		return cmdutil.ErrSilent
	}
	return nil
}

func fmtOne(opts *FmtOptions, file string) error {
	name, src, err := parsecmd.ReadInput(opts.IO, file)
	if err != nil {
		return err
	}
	f, diags := parser.Parse(name, src, parser.Options{})
	if err := diags.Fprint(opts.IO.ErrOut, src, opts.IO.ErrColorEnabled()); err != nil {
		return err
	}
	if f == nil {
		return cmdutil.ErrSilent
	}
	var out []byte
	if opts.ForXl {
		if out, err = forXl(opts, f, src); err != nil {
			return err
		}
	} else if out, err = parser.Format(f); err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	changed := !bytes.Equal(out, src)
	if opts.Diff && changed {
		if _, err := fmt.Fprint(opts.IO.Out, unifiedDiff(name+".orig", name, src, out)); err != nil {
			return err
		}
	}
	switch {
	case opts.Check:
		if changed {
			fmt.Fprintln(opts.IO.Out, name)
			return cmdutil.ErrSilent
		}
	case opts.Write:
		if changed {
			return writeAtomic(file, out)
		}
	case !opts.Diff:
		_, err := opts.IO.Out.Write(out)
		return err
	}
	return nil
}

// forXl returns the file xl must get (devspec.ForXl), canonical where a
// repair xl needs remains; what was taken out is listed on stderr.
func forXl(opts *FmtOptions, f *parser.File, src []byte) ([]byte, error) {
	if _, diags := devspec.CheckFile(f); diags.HasErrors() {
		if err := diags.Errs().Fprint(opts.IO.ErrOut, src, opts.IO.ErrColorEnabled()); err != nil {
			return nil, err
		}
		return nil, cmdutil.ErrSilent
	}
	out, removed, err := devspec.XlFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", f.Filename, err)
	}
	for _, r := range removed {
		fmt.Fprintf(opts.IO.ErrOut, "%s: %s: took out %s\n", r.Range, r.Device, r.Text)
	}
	return out, nil
}

// writeAtomic replaces path with data: a temporary file in the same
// directory, synced, given path's mode, then renamed over path, so that a
// reader sees the old or the new file, never a part.
//
// A symlink is followed (the file it names is replaced, the link stays), and
// the owner and group are kept where the caller may set them.
func writeAtomic(path string, data []byte) error {
	path, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".xfeat-fmt-*")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		return err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		_ = tmp.Chown(int(sys.Uid), int(sys.Gid)) // EPERM: keep ours, as an editor would
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	done = true
	return nil
}
