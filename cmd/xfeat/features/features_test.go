package features

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/cmdutil/cmdtest"
)

func TestNewCmdFeaturesFlags(t *testing.T) {
	for _, tc := range []struct {
		argv, kind, backend string
		out                 cmdutil.Output
		err                 string
	}{
		{argv: "vif", kind: "vif", backend: "0", out: "table"},
		{argv: "disk --backend drv -o json", kind: "vbd", backend: "drv", out: "json"},
		{argv: "vbd", kind: "vbd", backend: "0", out: "table"},
		{argv: "pci", err: `unknown device type "pci"`},
		{argv: "", err: "accepts 1 arg(s)"},
	} {
		got, err := cmdtest.Parse(NewCmdFeatures, strings.Fields(tc.argv))
		if tc.err != "" {
			cmdtest.CheckUsageError(t, fmt.Sprintf("%q", tc.argv), err, tc.err)
			continue
		}
		if err != nil || string(got.Kind) != tc.kind || got.Backend != tc.backend || got.Output != tc.out {
			t.Errorf("%q: %v %+v", tc.argv, err, got)
		}
	}
}
