package list

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/cmdutil/cmdtest"
)

func TestNewCmdListFlags(t *testing.T) {
	for _, tc := range []struct {
		argv string
		out  cmdutil.Output
		err  string
	}{
		{argv: "", out: "table"},
		{argv: "-o json", out: "json"},
		{argv: "--output table --xenstore /x", out: "table"},
		{argv: "guest", err: `unknown command "guest"`},
		{argv: "-o xml", err: `unknown output format "xml"`},
	} {
		got, err := cmdtest.Parse(NewCmdList, strings.Fields(tc.argv))
		if tc.err != "" {
			cmdtest.CheckUsageError(t, fmt.Sprintf("%q", tc.argv), err, tc.err)
			continue
		}
		if err != nil || got.Output != tc.out {
			t.Errorf("%q: %v %+v", tc.argv, err, got)
		}
	}
}
