// Package limits is the backends' limit flags, the same for every command
// that runs netback and blkback (xfeat host run|start, xfeat backend run):
// what each backend advertises as its own maximum (a schema's -defval) and
// which features it does not support at all.
package limits

import (
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/xfeat/xfeat/backends/blkback"
	"github.com/xfeat/xfeat/backends/netback"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
)

// AddFlags adds the limit flags to fs, defaulting to the values in nb and bb.
func AddFlags(fs *pflag.FlagSet, nb *netback.Limits, bb *blkback.Limits) {
	fs.Uint32Var(&nb.MaxQueues, "vif-max-queues", nb.MaxQueues, "netback's maximum queues per vif (1-16)")
	fs.StringSliceVar(&nb.Disabled, "vif-disable", nil, "netback bool features not supported at all (comma-separated)")
	fs.Uint32Var(&bb.MaxQueues, "vbd-max-queues", bb.MaxQueues, "blkback's maximum rings per vbd (1-16)")
	fs.Uint32Var(&bb.MaxRingPageOrder, "vbd-max-ring-page-order", bb.MaxRingPageOrder, "blkback's maximum ring page order (0-4)")
	fs.Uint32Var(&bb.MaxIndirectSegments, "vbd-max-indirect-segments", bb.MaxIndirectSegments, "blkback's maximum indirect segments (0-4096; 0 = no indirect descriptors)")
	fs.StringSliceVar(&bb.Disabled, "vbd-disable", nil, "blkback bool features not supported at all (comma-separated)")
}

// Check reports limits that make no sense as a usage error.
func Check(nb netback.Limits, bb blkback.Limits) error {
	if err := nb.Check(); err != nil {
		return cmdutil.FlagErrorf("%v", err)
	}
	if err := bb.Check(); err != nil {
		return cmdutil.FlagErrorf("%v", err)
	}
	return nil
}

// Args renders the limits as the flags AddFlags adds.
func Args(nb netback.Limits, bb blkback.Limits) []string {
	args := []string{
		"--vif-max-queues=" + strconv.FormatUint(uint64(nb.MaxQueues), 10),
		"--vbd-max-queues=" + strconv.FormatUint(uint64(bb.MaxQueues), 10),
		"--vbd-max-ring-page-order=" + strconv.FormatUint(uint64(bb.MaxRingPageOrder), 10),
		"--vbd-max-indirect-segments=" + strconv.FormatUint(uint64(bb.MaxIndirectSegments), 10),
	}
	if len(nb.Disabled) > 0 {
		args = append(args, "--vif-disable="+strings.Join(nb.Disabled, ","))
	}
	if len(bb.Disabled) > 0 {
		args = append(args, "--vbd-disable="+strings.Join(bb.Disabled, ","))
	}
	return args
}
