package toolstack

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// DumpTree renders the subtree at path, one node a line in depth-first
// order as the daemon lists children, with value and permissions, like
// `xenstore-ls -f -p`: two dumps are equal exactly when the trees are.
func DumpTree(ctx context.Context, ops xsclient.Ops, path string) (string, error) {
	var b strings.Builder
	var walk func(p string) error
	walk = func(p string) error {
		v, err := ops.Read(ctx, p)
		if errors.Is(err, xswire.ErrNotFound) {
			return nil // removed while we walked
		}
		if err != nil {
			return err
		}
		perms, err := ops.GetPerms(ctx, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s = %q (%s)\n", p, v, strings.Join(xswire.FormatPerms(perms), ","))
		kids, err := dirOpt(ctx, ops, p)
		if err != nil {
			return err
		}
		for _, k := range kids {
			child := p + "/" + k
			if p == "/" {
				child = "/" + k
			}
			if err := walk(child); err != nil {
				return err
			}
		}
		return nil
	}
	err := walk(path)
	return b.String(), err
}
