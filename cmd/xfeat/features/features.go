// Package features implements `xfeat features`: the feature schema a
// backend domain advertises for a device type.
package features

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/xfeat/xfeat/cmd/xfeat/internal/xsconn"
	showcmd "github.com/xfeat/xfeat/cmd/xfeat/show"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/internal/cli/tableprinter"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xsclient"
)

// FeaturesOptions are the inputs of `xfeat features`.
type FeaturesOptions struct {
	IO       *iostreams.IOStreams
	XenStore func(ctx context.Context, flag string, startSandbox bool) (*xsclient.Client, error)

	Kind         pv.Kind
	Backend      string
	Output       cmdutil.Output
	XenStorePath string
}

// NewCmdFeatures builds `xfeat features`.
func NewCmdFeatures(f *cmdutil.Factory, runF func(*FeaturesOptions) error) *cobra.Command {
	opts := &FeaturesOptions{IO: f.IO, XenStore: xsconn.For(f)}
	cmd := &cobra.Command{
		Use:   "features TYPE",
		Short: "List the features a backend advertises for a device type",
		Long: `List the features the backend domain advertises for TYPE (vif, vbd or disk)
under /local/domain/BE/backend/TYPE/features: name, type (uint, int,
bool, string), default (for a maximum such as multi-queue-max-queues: the
backend's own maximum, above which it clamps a request), the hard bounds
-min/-max and allowed -values where given, and the description. These are
the names and values a vif or disk spec may request (see xfeat-requests(5)).

On a real Xen host (a XenStore that is not the sandbox host's, see
xfeat-create(1)) the local domain's stock Linux backends, xen-netback and
xen-blkback, advertise no schema: they are described by their module
parameters (/sys/module/xen_netback/parameters/, xen_blkback's) and the
values the drivers fix, the features xfeat create can make count:

    vif  multi-queue-max-queues      max_queues          rewrite
         feature-sg, feature-gso-tcpv4, feature-gso-tcpv6,
         feature-ipv6-csum-offload,
         feature-multicast-control,
         feature-ctrl-ring           1 (fixed)           rewrite
         feature-split-event-channels separate_tx_rx_irq rewrite
    vbd  multi-queue-max-queues      max_queues          rewrite
         max-ring-page-order         max_ring_page_order rewrite
         feature-max-indirect-segments 256 (fixed)       rewrite
         feature-discard             1                   discard-enable
         feature-persistent          feature_persistent  at-connect
         feature-flush-cache, feature-barrier  (the disk) at-connect

CONTROL says how: "rewrite", xfeat create rewrites the key the backend
wrote when it probed the device, before the guest runs (a maximum above
the parameter is clamped to it, a boolean can only be turned off);
"discard-enable", xfeat create writes that key (blkif.h), which blkback
reads when it connects; "at-connect", the backend decides when it connects
and a request for anything but its own choice is unenforceable. A note on
stderr says where the description comes from.

Any other backend that advertises no schema is described by the keys the
protocol has it write per device (netif.h, blkif.h): every feature the
protocol defines for TYPE, with the value the backend offers as read from
its first device of that type, or no value when it serves none yet. A note
on stderr says so, and where the values came from.

Output: a table on a terminal; otherwise one tab-separated line per feature
in that column order ("-" for an absent bound). With -o json:
{"backend": N, "type": T, "path": P, "schema": "advertised"|"stock"|"none",
"source": "schema"|PARAMETERS-DIR|"device TYPE FE/DEVID"|"protocol",
"features": [{"name", "type", "default", "min", "max", "values",
"description", "control"}]} with null for an absent default or bound, []
for no values and "" for no control (not a stock backend).

Exit status: 0 on success; 1 when the backend domain does not exist or
XenStore cannot be read; 2 on a usage error.`,
		Example: `  xfeat features vif
  xfeat features disk --backend 0 -o json`,
		Args: cmdutil.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			kind, err := showcmd.ParseKind(args[0])
			if err != nil {
				return err
			}
			opts.Kind = kind
			if runF != nil {
				return runF(opts)
			}
			return featuresRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Backend, "backend", "0", "backend domain (id or name)")
	cmd.Flags().StringVar(&opts.XenStorePath, "xenstore", "", "XenStore socket or device to use (default: search as xfeat create does)")
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	return cmd
}

type featureJSON struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Default     *string  `json:"default"`
	Min         *int64   `json:"min"`
	Max         *int64   `json:"max"`
	Values      []string `json:"values"`
	Description string   `json:"description"`
	// Control is how xfeat create makes a request count on a stock
	// backend (toolstack.StockControl); "" otherwise.
	Control string `json:"control"`
}

func featuresRun(opts *FeaturesOptions) error {
	ctx := context.Background()
	c, err := opts.XenStore(ctx, opts.XenStorePath, false)
	if err != nil {
		return err
	}
	defer c.Close()
	be, _, err := toolstack.ResolveDomain(ctx, c, opts.Backend)
	if err != nil {
		return err
	}
	host, err := toolstack.DetectHost(ctx, c, toolstack.HostProbe{})
	if err != nil {
		return err
	}
	s, from, err := toolstack.BackendSchema(ctx, c, host, be, opts.Kind)
	if errors.Is(err, toolstack.ErrNoSchema) {
		o, err := toolstack.ReadOffer(ctx, c, be, opts.Kind)
		if err != nil {
			return err
		}
		return writeFeatures(opts, be, pv.SchemaDir(be, opts.Kind), o.Schema, o.Source, offerList(o))
	}
	if err != nil {
		return err
	}
	list := make([]featureJSON, 0, len(s.Features))
	for _, name := range s.Names() {
		ft := s.Features[name]
		j := featureJSON{Name: name, Type: string(ft.Type), Min: ft.Min, Max: ft.Max, Values: ft.Values, Description: ft.Desc}
		if from == toolstack.SchemaStock {
			j.Control = toolstack.StockControl(opts.Kind, name)
		}
		if ft.Defval != "" {
			d := ft.Defval
			j.Default = &d
		}
		if j.Values == nil {
			j.Values = []string{}
		}
		list = append(list, j)
	}
	if from == toolstack.SchemaStock {
		fmt.Fprintf(opts.IO.ErrOut, "xfeat: backend domain %d advertises no feature schema for %s (nothing at %s): "+
			"it is this domain's stock Linux backend, described by %s\n", be, opts.Kind, s.Dir(), s.From)
		return writeFeatures(opts, be, s.Dir(), from, toolstack.StockParams(host.Sysfs, opts.Kind), list)
	}
	return writeFeatures(opts, be, s.Dir(), toolstack.SchemaAdvertised, sourceSchema, list)
}

// sourceSchema is the source of features a backend advertises itself.
const sourceSchema = "schema"

// offerList describes a backend without a schema by the protocol's keys:
// the value it offers (read from one of its devices) as the default.
func offerList(o *toolstack.Offer) []featureJSON {
	list := make([]featureJSON, 0, len(o.Features))
	for _, f := range o.Features {
		list = append(list, featureJSON{Name: f.Rule.Feature, Type: string(f.Rule.Type), Default: f.Value,
			Values: []string{}, Description: f.Rule.Desc})
	}
	return list
}

func writeFeatures(opts *FeaturesOptions, be uint32, dir, schemaKind, source string, list []featureJSON) error {
	if schemaKind == toolstack.SchemaNone {
		from := "the protocol alone (no device of this type yet)"
		if source != toolstack.OfferFromProtocol {
			from = source
		}
		fmt.Fprintf(opts.IO.ErrOut, "xfeat: backend domain %d advertises no feature schema for %s (nothing at %s): "+
			"listing what it offers by the protocol's keys, read from %s\n", be, opts.Kind, dir, from)
	}
	if opts.Output == cmdutil.OutputJSON {
		return cmdutil.WriteJSON(opts.IO.Out, struct {
			Backend  uint32        `json:"backend"`
			Type     pv.Kind       `json:"type"`
			Path     string        `json:"path"`
			Schema   string        `json:"schema"`
			Source   string        `json:"source"`
			Features []featureJSON `json:"features"`
		}{be, opts.Kind, dir, schemaKind, source, list})
	}
	headers := []string{"NAME", "TYPE", "DEFAULT", "MIN", "MAX", "VALUES", "DESCRIPTION"}
	if schemaKind == toolstack.SchemaStock {
		headers = append(headers, "CONTROL")
	}
	tp := tableprinter.New(opts.IO, headers...)
	num := func(p *int64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatInt(*p, 10)
	}
	for _, j := range list {
		def := "-"
		if j.Default != nil {
			def = *j.Default
		}
		vals := "-"
		if len(j.Values) > 0 {
			vals = strings.Join(j.Values, ",")
		}
		row := []string{j.Name, j.Type, def, num(j.Min), num(j.Max), vals, j.Description}
		if schemaKind == toolstack.SchemaStock {
			row = append(row, j.Control)
		}
		tp.Row(row...)
	}
	return tp.Render()
}
