// Command genman writes the man pages of xfeat(1) and of each subcommand from
// the cobra command tree into a directory (make man). The pages are committed;
// a test in package root fails when they are stale.
package main

import (
	"fmt"
	"os"

	"github.com/xfeat/xfeat/cmd/xfeat/root"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genman DIR")
		os.Exit(2)
	}
	if err := root.GenManTree(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "genman:", err)
		os.Exit(1)
	}
}
