package destroy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/internal/cli/cmdutil/cmdtest"
)

func TestNewCmdDestroyFlags(t *testing.T) {
	for _, tc := range []struct {
		argv string
		dom  string
		wait time.Duration
		err  string
	}{
		{argv: "guest", dom: "guest", wait: 10 * time.Second},
		{argv: "5 --wait 1s --xenstore /x", dom: "5", wait: time.Second},
		{argv: "", err: "accepts 1 arg(s), received 0"},
		{argv: "a b", err: "accepts 1 arg(s), received 2"},
		{argv: "a --wait 0", err: "--wait must be positive"},
	} {
		got, err := cmdtest.Parse(NewCmdDestroy, strings.Fields(tc.argv))
		if tc.err != "" {
			cmdtest.CheckUsageError(t, fmt.Sprintf("%q", tc.argv), err, tc.err)
			continue
		}
		if err != nil || got.Domain != tc.dom || got.Wait != tc.wait {
			t.Errorf("%q: %v %+v", tc.argv, err, got)
		}
	}
}
