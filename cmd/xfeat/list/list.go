// Package list implements `xfeat list`: the domains in XenStore with their
// devices and the states of both ends of each.
package list

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/xfeat/xfeat/cmd/xfeat/internal/xsconn"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/internal/cli/tableprinter"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xsclient"
)

// ListOptions are the inputs of `xfeat list`.
type ListOptions struct {
	IO       *iostreams.IOStreams
	XenStore func(ctx context.Context, flag string, startSandbox bool) (*xsclient.Client, error)

	Output       cmdutil.Output
	XenStorePath string
}

// NewCmdList builds `xfeat list`.
func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IO, XenStore: xsconn.For(f)}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List domains, their devices and the devices' states",
		Long: `List every domain XenStore knows (under /local/domain or /libxl), by id, with
its name and each vif and vbd device and the xenbus state of its backend and
frontend (Initialising, InitWait, Initialised, Connected, Closing, Closed;
"absent" when the state node is missing).

Output: a table on a terminal; otherwise one tab-separated line per device
(domid, name, device, backend state, frontend state), a domain without
devices on one line with "-". With -o json: [{"domid", "name", "devices":
[{"device", "type", "devid", "backend-id", "backend", "frontend",
"state": {"backend", "frontend"}}]}].

Exit status: 0 on success; 1 when XenStore cannot be read; 2 on a usage
error.`,
		Example: `  xfeat list
  xfeat list -o json`,
		Args: cmdutil.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.XenStorePath, "xenstore", "", "XenStore socket or device to use (default: search as xfeat create does)")
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	return cmd
}

func listRun(opts *ListOptions) error {
	ctx := context.Background()
	c, err := opts.XenStore(ctx, opts.XenStorePath, false)
	if err != nil {
		return err
	}
	defer c.Close()
	doms, err := toolstack.ListDomains(ctx, c)
	if err != nil {
		return err
	}
	if opts.Output == cmdutil.OutputJSON {
		type domJSON struct {
			Domid   uint32                  `json:"domid"`
			Name    string                  `json:"name"`
			Devices []toolstack.DeviceState `json:"devices"`
		}
		out := make([]domJSON, 0, len(doms))
		for _, d := range doms {
			devs := d.Devices
			if devs == nil {
				devs = []toolstack.DeviceState{}
			}
			out = append(out, domJSON{d.ID, d.Name, devs})
		}
		return cmdutil.WriteJSON(opts.IO.Out, out)
	}
	tp := tableprinter.New(opts.IO, "DOMID", "NAME", "DEVICE", "BACKEND", "FRONTEND")
	for _, d := range doms {
		name := d.Name
		if name == "" {
			name = "-"
		}
		if len(d.Devices) == 0 {
			tp.Row(fmt.Sprint(d.ID), name, "-", "-", "-")
		}
		for _, dev := range d.Devices {
			tp.Row(fmt.Sprint(d.ID), name, dev.Name(), dev.BackendState.String(), dev.FrontendState.String())
		}
	}
	return tp.Render()
}
