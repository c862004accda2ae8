// Command xfeat controls Xen PV device features per device: it parses xl.cfg
// files, validates feature requests against the schema a backend advertises in
// XenStore, creates devices with config-* entries, and shows what was
// negotiated. See xfeat(1).
package main

import (
	"os"

	"github.com/xfeat/xfeat/cmd/xfeat/root"
)

func main() {
	os.Exit(int(root.Main(os.Args[1:])))
}
