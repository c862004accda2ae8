package toolstack

import (
	"context"
	"fmt"

	"github.com/xfeat/xfeat/backends/frontends/footprint"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xsclient"
)

// Feature is one checked feature request of a device.
type Feature struct {
	Name     string `json:"name"`
	Value    string `json:"value"` // canonical (schema.Feature.Check)
	Spelling string `json:"spelling"`
	// Clamp is the backend's maximum when Value exceeds it (the backend will
	// lower the value); "" otherwise.
	Clamp string `json:"clamp,omitempty"`
	// Lowered marks a request the file did not make: the budget lowered
	// what the backend offers so that every device fits (budget.go).
	Lowered bool         `json:"lowered,omitempty"`
	Range   parser.Range `json:"-"`
}

// Device is one planned device.
type Device struct {
	Kind    pv.Kind `json:"type"`
	Label   string  `json:"label"` // "vif #0", "disk #1": as the config file counts
	Devid   uint32  `json:"devid"`
	Backend uint32  `json:"backend-id"`
	// Features are the requests, in the order written, then those the
	// budget added (Lowered).
	Features []Feature `json:"features"`
	// Need, MayUse and Use are what the device takes of the guest (its
	// frontend's footprint plus the nodes xfeat create writes for it,
	// which the guest owns): with the values requested and every other
	// feature at its protocol minimum (what must fit); with everything
	// the backend offers; and with what the budget gives it.
	Need   footprint.Use `json:"need"`
	MayUse footprint.Use `json:"may_use"`
	Use    footprint.Use `json:"use"`
	// Takes says how the guest's frontend comes to Use, for people (the
	// arithmetic of footprint's model: Linux's frontends on a real host,
	// the reference ones on the sandbox).
	Takes string `json:"takes"`

	schema       *schema.Schema
	stock        *stockBackend         // a stock Linux backend (stock.go): its keys are rewritten, not config-* read
	open         bool                  // no schema and not described: its offers are unknown (real host only)
	guest        *footprint.LinuxGuest // the guest's Linux frontends (real host); nil: the sandbox's
	offline      bool                  // GuestBudget's: no backend asked; floor at the request or the minimum
	floor, most  offers                // the offers at Need and at MayUse
	offer        offers                // the offers at Use
	ownNodes     int64                 // nodes DomainNodes writes for it that the guest owns
	frontendKeys []kv                  // written in the frontend dir, inheriting its perms
	readOnlyKeys []kv                  // frontend keys owned by the backend ([n<be>, r<fe>])
	backendKeys  []kv                  // written in the backend dir after frontend/frontend-id/online/state
	rng          parser.Range
}

type kv struct{ k, v string }

// Plan is a checked domain, ready to be created.
type Plan struct {
	File    string    `json:"file"`
	Name    string    `json:"name"`
	Limits  Limits    `json:"limits"`
	Devices []*Device `json:"devices"`
	// Host is the host the plan is for: on the sandbox host the guest
	// runs the reference frontends and Create builds the domain; on a
	// real Xen host it runs Linux's (Guest) and CreateWithXl has xl build
	// it.
	Host Host `json:"host"`
	// Guest bounds the Linux guest's frontends (real host; nil on the
	// sandbox).
	Guest *footprint.LinuxGuest `json:"guest,omitempty"`
	// Budget is what the devices may take and take (budget.go).
	Budget Budget `json:"budget"`
}

// NewPlan checks cfg (a file devspec.CheckFile accepted) against what the
// backends advertise in XenStore, only reading: every requested feature must
// be in its backend's schema and pass its checks (check.go), and the devices
// must fit in the domain's limits, lowering what the backends offer where
// the file leaves it open (budget.go); the nodes the plan writes are laid
// out by layout.go. Every problem is a diagnostic pointing into the file;
// warnings (a maximum above what the backend offers, which it will clamp; a
// device the budget lowered) come back too. The plan is nil when there is an
// error.
func NewPlan(ctx context.Context, ops xsclient.Ops, f *parser.File, cfg *devspec.Config) (*Plan, parser.Diagnostics, error) {
	return NewPlanFor(ctx, ops, Host{Kind: SandboxHost}, f, cfg)
}

// NewPlanFor is NewPlan for host (DetectHost): on a real Xen host a stock
// Linux backend of the local domain is described by its module parameters
// (stock.go), a device whose backend advertises nothing and that requests
// nothing is left to xl, and the budget counts what the guest's Linux
// frontends take (footprint.LinuxGuest, from the file: LinuxGuestOf).
func NewPlanFor(ctx context.Context, ops xsclient.Ops, host Host, f *parser.File, cfg *devspec.Config) (*Plan, parser.Diagnostics, error) {
	p := &Plan{File: f.Filename, Name: cfg.Name, Host: host,
		Limits: Limits{GrantFrames: cfg.Domain.GrantFrames(), EventChannels: cfg.Domain.EventChannels()}}
	if host.Kind == XenHost {
		g := LinuxGuestOf(f)
		p.Guest = &g
	}
	c := &checker{ctx: ctx, ops: ops, p: p, schemas: map[string]*schema.Schema{}, schemaErrs: map[string]error{},
		stock: map[string]bool{}, seen: map[string]string{}}
	fileRange := parser.Range{Filename: f.Filename, Start: parser.Pos{Line: 1, Column: 1}, End: parser.Pos{Line: 1, Column: 1}}

	for i, v := range cfg.Vifs {
		if v.Devid < 0 || v.Devid > 0xffff {
			c.errAt(v.Range, fmt.Sprintf("vif #%d: devid %d out of range", i, v.Devid), "")
			continue
		}
		d := &Device{Kind: pv.Vif, Label: fmt.Sprintf("vif #%d", i), Devid: uint32(v.Devid), rng: v.Range}
		if err := c.device(d, v.Backend, v.Features); err != nil {
			return nil, c.diags, err
		}
		vifKeys(d, v)
	}
	for i, disk := range cfg.Disks {
		label := fmt.Sprintf("disk #%d", i)
		d := &Device{Kind: pv.Vbd, Label: label, Devid: disk.VirtualDevice, rng: disk.Range}
		if disk.Format == "empty" || disk.Target == nil || *disk.Target == "" {
			c.errAt(disk.Range, label+": an empty drive (no target) is not supported by xfeat create",
				"the vbd backend serves an image file or device: give the drive a target")
			continue
		}
		if disk.Format != "raw" && disk.Format != "" {
			c.errAt(disk.Range, fmt.Sprintf("%s: format %s is not supported by xfeat create", label, disk.Format),
				"the vbd backend serves raw images only (type=phy); convert the image (qemu-img convert -O raw)")
			continue
		}
		if bt := disk.BackendType; bt != "" && bt != "phy" {
			c.errAt(disk.Range, fmt.Sprintf("%s: backendtype=%s is not supported by xfeat create", label, bt), "only phy backends are")
			continue
		}
		if disk.Specification == "virtio" {
			c.errAt(disk.Range, label+": specification=virtio is not supported by xfeat create", "only xen PV disks are")
			continue
		}
		if err := c.device(d, disk.Backend, disk.Features); err != nil {
			return nil, c.diags, err
		}
		diskKeys(d, disk)
	}
	diags := c.diags
	if diags.HasErrors() {
		return nil, diags, nil
	}
	diags = append(diags, p.budget(f, fileRange)...)
	if diags.HasErrors() {
		return nil, diags, nil
	}
	return p, diags, nil
}
