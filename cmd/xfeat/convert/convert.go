// Package convertcmd implements `xfeat convert`: translate between an xl.cfg
// file and libvirt domain XML, feature requests included (package convert
// does the work; this is its command line).
package convertcmd

import (
	"github.com/spf13/cobra"

	parsecmd "github.com/xfeat/xfeat/cmd/xfeat/parse"
	"github.com/xfeat/xfeat/convert"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/parser"
)

// ConvertOptions are the inputs of `xfeat convert`.
type ConvertOptions struct {
	IO *iostreams.IOStreams

	File   string // "-" reads standard input
	To     string // "libvirt": FILE is xl.cfg
	From   string // "libvirt": FILE is domain XML
	Strict bool
}

// NewCmdConvert builds `xfeat convert`.
func NewCmdConvert(f *cmdutil.Factory, runF func(*ConvertOptions) error) *cobra.Command {
	opts := &ConvertOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "convert (--to libvirt | --from libvirt) [--strict] FILE",
		Short: "Convert between xl.cfg and libvirt domain XML, features included",
		Long: `Translate a domain description between xl.cfg and libvirt's domain XML, without
a running hypervisor. FILE is read (- for standard input), the result printed
on standard output. With --to libvirt FILE is an xl.cfg file and the output
<domain type='xen'> XML; with --from libvirt FILE is libvirt domain XML (as
virsh dumpxml prints it) and the output an xl.cfg file.

The standard parts are mapped as libvirt's own xen-xl converter maps them:
name, uuid, memory and maxmem (<memory>, <currentMemory>), vcpus and maxvcpus
(<vcpu>), type (<os><type>: linux for PV, xenpvh, hvm), kernel, ramdisk,
cmdline (or root and extra), bootloader, the on_poweroff, on_reboot and
on_crash actions, max_grant_frames and max_event_channels (attributes of
<controller type='xenbus'>), e820_host (<features><xen><e820_host>), and for
HVM guests pae, acpi, apic, hap, viridian, boot, vnc or sdl (one <graphics>:
libvirt starts one display) and serial; a PV or PVH guest's vfb (<graphics>).
A vif becomes an <interface> (mac, bridge, script, model or type=vif as
<model type='netfront'/>, vifname as <target dev>, ip, rate as <bandwidth>,
backend as <backenddomain>, mtu); a disk a <disk> (target as <source>, format
and backendtype as <driver type= name=>, vdev as <target dev>, access=ro as
<readonly/>, devtype=cdrom, backend, discard).

Feature requests go where libvirt has an element for them: queues is
<driver queues=N> of an interface or a disk; tso4, tso6 and csum are
<driver><host tso4= tso6= csum=/></driver> of an interface. Every other
request (persistent grants, ring page order, indirect segments, split event
channels, ...), every key libvirt has no element for, and how the file spelled
what it did (vcpus = 06, a positional disk spec, a rate with an interval) are
kept in xfeat's element of the domain's <metadata>,
<xfeat:xl xmlns:xfeat='https://xfeat.dev/xmlns/features/1'>, so that
--from libvirt gives every setting and feature request back. An edit of the
XML always wins over what the metadata remembers.

What libvirt cannot express is reported, never dropped silently: each such
setting, key or feature is a warning on standard error, FILE:LINE:COLUMN:
warning: message (kept in the metadata, libvirt does not apply it); going
--from libvirt, each element or attribute without an xl.cfg equivalent is a
warning at its position in the XML. libvirt's implicit devices (the PV
console, the xen mouse and keyboard, the xen memballoon) and the default clock
are taken without a word. --strict makes every warning an error.

Deliberate differences from libvirt's converter (tested against libvirt 9's on
a real Xen host): a disk without backendtype= gets no driver name (libxl picks
the backend; libvirt's converter says qemu); rate= becomes the KiB/s average
that libvirt's libxl driver turns back into the same bytes per second
(libvirt's converter reads M as 1024 and drops the interval); libxl's defaults
are written where libvirt's differ (an HVM guest has VNC unless vnc=0 or only
sdl=1 is set, and boots from cda), and nothing for an unset uuid, on_* action,
memory or vcpus; a vif without mac= gets no MAC (libvirt's converter writes
00:00:00:00:00:00); a bridge name with a dot is a bridge name, not Open
vSwitch's BRIDGE.VLAN; e820_host=0 is <e820_host state='off'/>; the implicit
console, input, memballoon and clock elements are not written. The file is
read as xl reads it, where libvirt's own reader refuses hexadecimal numbers,
+=, escaped quotes and comments inside lists, reads 010 as ten (xl: eight),
takes escapes as written and a key set twice at its first value, and its
converter refuses cpus as a list and a vif flag such as trusted. Where xl and
libvirt would run the guest differently, the XML says what libvirt does and
the rest is kept and reported: an HVM guest gets one display (VNC when vnc=1
and sdl=1 are both set), and PAE even with pae=0 (libvirt's libxl driver
turns it on for every x86_64 HVM guest).

The input is checked first: an xl.cfg file as xfeat validate checks it, the
XML for what xl needs (a name, Xen's domain type). What cannot be written at
all is an error: no name, a disk path that is not absolute, a vdev libvirt does
not take (d0p1, 51712), a multicast MAC. Every XML written passes libvirt's
own schema (virt-xml-validate), and every xl.cfg written passes xfeat
validate.

Exit status: 0 when the conversion is printed (warnings or not), 1 when the
input has an error, cannot be read, or cannot be converted (or, with --strict,
draws a warning), 2 on a usage error. Nothing is printed on standard output
unless the conversion succeeds.`,
		Example: `  xfeat convert --to libvirt /etc/xen/guest.cfg > guest.xml
  virsh -c xen:/// define guest.xml
  virsh -c xen:/// dumpxml guest | xfeat convert --from libvirt - > guest.cfg
  xfeat convert --to libvirt --strict guest.cfg   # fail on what libvirt cannot express`,
		Args: cmdutil.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.File = args[0]
			switch {
			case opts.To == "" && opts.From == "":
				return cmdutil.FlagErrorf("give --to libvirt or --from libvirt")
			case opts.To != "" && opts.From != "":
				return cmdutil.FlagErrorf("--to and --from cannot be used together")
			case opts.To != "" && opts.To != "libvirt", opts.From != "" && opts.From != "libvirt":
				return cmdutil.FlagErrorf("the only format is libvirt (domain XML)")
			}
			if runF != nil {
				return runF(opts)
			}
			return convertRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.To, "to", "", "convert the xl.cfg FILE to this format: libvirt (domain XML)")
	cmd.Flags().StringVar(&opts.From, "from", "", "convert FILE in this format to xl.cfg: libvirt (domain XML)")
	cmd.Flags().BoolVar(&opts.Strict, "strict", false, "fail on anything libvirt (or xl.cfg) cannot express instead of warning")
	return cmd
}

func convertRun(opts *ConvertOptions) error {
	name, src, err := parsecmd.ReadInput(opts.IO, opts.File)
	if err != nil {
		return err
	}
	var out []byte
	var diags parser.Diagnostics
	if opts.To != "" {
		f, d := parser.Parse(name, src, parser.Options{})
		diags = d
		if f != nil {
			out, d = convert.ToLibvirt(f, convert.Options{Strict: opts.Strict})
			diags = append(diags, d...)
		}
	} else {
		out, diags = convert.FromLibvirt(name, src, convert.Options{Strict: opts.Strict})
	}
	if err := diags.Fprint(opts.IO.ErrOut, src, opts.IO.ErrColorEnabled()); err != nil {
		return err
	}
	if out == nil || diags.HasErrors() {
		return cmdutil.ErrSilent
	}
	_, err = opts.IO.Out.Write(out)
	return err
}
