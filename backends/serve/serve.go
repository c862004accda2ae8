// Package serve runs xfeat's bundled backends, netback (vif) and blkback
// (vbd), on a real Xen host: in dom0 or a driver domain, against the
// machine's XenStore, through its Xen devices (xendev.Platform: gntdev
// and evtchn) and with TAP devices for the vifs. It is what
// `xfeat backend run` does; the sandbox host (package sandbox) is its
// counterpart with everything in one process.
//
// Where data enters and leaves: the backends' limits enter from Config
// and leave as the schema advertised under
// /local/domain/<self>/backend/<type>/features while the server runs
// (removed when it stops). Devices enter as the directories xl writes
// under /local/domain/<self>/backend/<type>; each is served by
// xenbus.BackendBus (state machine, config-* decided and recorded, probed
// again when requests come after the device, before its frontend
// starts). Guest memory and notifications enter and leave through
// xendev.Platform, packets through the vifs' TAP devices, blocks through
// the image file or block device named by params.
//
// How a device meets xl's hotplug scripts: libxl runs a device's script
// once its backend is InitWait. The block script makes a loop device of
// an image file and writes physical-device; blkback has opened the image
// (params) at probe and serves it directly. The vif script (vif-bridge)
// needs the interface vif<domid>.<devid> to exist: it renames it for
// vifname=, puts it on its bridge and brings it up. So a vif's TAP is
// reserved at probe (tap.Reserve: persistent, no queue yet); the data
// path attaches its queues when the guest connects and detaches them when
// it goes; the TAP goes with the device's directory (Release), as Linux
// netback's interface does.
//
// Invariants: the server does not start where the kernel's backend for
// one of its types is loaded (both would serve every device of the
// type), nor where another server has the type (a lock file per type);
// every mapping, bound port and TAP a device acquired is released when
// the device goes; on stop every device past InitWait is disconnected and
// Closed (xenbus.BackendBus.CloseOnStop), so a guest sees its backend go,
// and one still InitWait is left for the next run; lines
// about a guest's devices are limited per domain (internal/hostlog).
package serve

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xfeat/xfeat/backends/blkback"
	"github.com/xfeat/xfeat/backends/netback"
	"github.com/xfeat/xfeat/backends/platform"
	"github.com/xfeat/xfeat/backends/tap"
	"github.com/xfeat/xfeat/backends/xenbus"
	"github.com/xfeat/xfeat/backends/xendev"
	"github.com/xfeat/xfeat/internal/hostlog"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// Kinds are the device types the server can serve, in the order it
// starts them.
var Kinds = []pv.Kind{pv.Vif, pv.Vbd}

// kernelModule is the Linux backend driver of each kind: the xenbus
// driver it registers on the xen-backend bus is named after the kind.
var kernelModule = map[pv.Kind]string{pv.Vif: "xen-netback", pv.Vbd: "xen-blkback"}

// Platform is what the server needs of the host's Xen devices.
type Platform interface {
	platform.Backend
	Close() error
	// Mapped and Bound count the grant mappings and event channels the
	// devices hold: both 0 once every device is disconnected.
	Mapped() int
	Bound() int
}

// Config configures a Server.
type Config struct {
	// XenStore is a privileged connection of the domain the backends run
	// in (its socket or /dev/xen/xenbus). The server does not close it.
	XenStore *xsclient.Client
	// Types are the kinds served; empty is every one of Kinds.
	Types   []pv.Kind
	Netback netback.Limits
	Blkback blkback.Limits
	// Logf receives one line per notable event; nil discards them.
	Logf func(format string, args ...any)

	// What tests replace: the sysfs root ("/sys"), the TUN clone device
	// (tap.TunPath), the directory of the lock files
	// (DefaultLockDir) and the platform (nil: xendev.OpenPlatform).
	Sysfs    string
	TunPath  string
	LockDir  string
	Platform Platform
}

// DefaultLockDir holds one lock file per type served, backend-<type>.lock.
const DefaultLockDir = "/run/xfeat"

// ErrKernelBackend is wrapped by the error of New where the kernel's
// backend for a type to serve is loaded.
var ErrKernelBackend = errors.New("the kernel's backend is loaded")

// KernelBackends returns, for each of kinds whose Linux backend driver is
// registered (sysfs/bus/xen-backend/drivers/<kind>), why the server must
// not serve it: the kernel serves every device of that type already.
func KernelBackends(sysfs string, kinds []pv.Kind) []string {
	var out []string
	for _, k := range kinds {
		if _, err := os.Stat(filepath.Join(sysfs, "bus", "xen-backend", "drivers", string(k))); err != nil {
			continue
		}
		mod := kernelModule[k]
		how := "unload it (rmmod " + mod + ")"
		if _, err := os.Stat(filepath.Join(sysfs, "module", strings.ReplaceAll(mod, "-", "_"), "initstate")); err != nil {
			how = "it is built into this kernel and cannot be unloaded"
		}
		out = append(out, fmt.Sprintf("the kernel's %s backend (%s) is loaded and serves every %s of this domain: %s, or leave %ss to it (--types)", k, mod, k, how, k))
	}
	return out
}

// ParseTypes parses the --types list: vif and vbd, comma-separated.
func ParseTypes(list []string) ([]pv.Kind, error) {
	var out []pv.Kind
	for _, s := range list {
		k := pv.Kind(strings.TrimSpace(s))
		if !slices.Contains(Kinds, k) {
			return nil, fmt.Errorf("type %q: the backends serve vif and vbd", s)
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// Server serves the devices of its types for the domain it runs in.
type Server struct {
	cfg   Config
	self  uint32
	plat  Platform
	lim   *hostlog.Limiter
	locks []*os.File

	netback *netback.Driver
	vifs    *vifDriver
	taps    *netback.TapPath
	blkback *blkback.Driver
	buses   []*xenbus.BackendBus
}

// New checks that the server may run here (no kernel backend for its
// types, no other server for them), finds the domain it runs in and
// opens the Xen devices. Nothing is written to XenStore before Run.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.XenStore == nil {
		return nil, errors.New("serve: no XenStore connection")
	}
	if len(cfg.Types) == 0 {
		cfg.Types = Kinds
	}
	if cfg.Sysfs == "" {
		cfg.Sysfs = "/sys"
	}
	if cfg.LockDir == "" {
		cfg.LockDir = DefaultLockDir
	}
	if cfg.TunPath == "" {
		cfg.TunPath = tap.TunPath
	}
	if cfg.Netback.MaxQueues == 0 {
		cfg.Netback = netback.DefaultLimits()
	}
	if cfg.Blkback.MaxQueues == 0 {
		cfg.Blkback = blkback.DefaultLimits()
	}
	if err := cfg.Netback.Check(); err != nil {
		return nil, err
	}
	if err := cfg.Blkback.Check(); err != nil {
		return nil, err
	}
	if why := KernelBackends(cfg.Sysfs, cfg.Types); len(why) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrKernelBackend, strings.Join(why, "; "))
	}
	self, err := selfID(ctx, cfg.XenStore)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, self: self}
	s.lim = hostlog.NewLimiter(s.logf)
	for _, k := range cfg.Types {
		f, err := lock(cfg.LockDir, k)
		if err != nil {
			s.unlock()
			return nil, err
		}
		s.locks = append(s.locks, f)
	}
	s.plat = cfg.Platform
	if s.plat == nil {
		p, err := xendev.OpenPlatform()
		if err != nil {
			s.unlock()
			return nil, err
		}
		s.plat = p
	}
	for _, k := range cfg.Types {
		bus := &xenbus.BackendBus{Client: cfg.XenStore, BackendID: self, CloseOnStop: true}
		switch k {
		case pv.Vif:
			s.taps = &netback.TapPath{XenStore: cfg.XenStore, Logf: s.prefixed("netback"),
				Taps: &netback.HostTaps{TunPath: cfg.TunPath, Logf: s.prefixed("netback")}}
			s.netback = &netback.Driver{Limits: cfg.Netback, Platform: s.plat, Logf: s.prefixed("netback"), DataPath: s.taps}
			s.vifs = &vifDriver{Driver: s.netback, tunPath: cfg.TunPath, logf: s.prefixed("netback"), xs: cfg.XenStore}
			bus.Driver, bus.Logf = s.vifs, s.prefixed("netback")
		case pv.Vbd:
			s.blkback = &blkback.Driver{Limits: cfg.Blkback, Platform: s.plat, Logf: s.prefixed("blkback"),
				DataPath: &blkback.Server{XenStore: cfg.XenStore, Logf: s.prefixed("blkback")}}
			bus.Driver, bus.Logf = s.blkback, s.prefixed("blkback")
		}
		s.buses = append(s.buses, bus)
	}
	return s, nil
}

// selfID reads the id of the domain the connection belongs to: "domid",
// relative to its home (written by xen-init-dom0 for dom0, by libxl for a
// driver domain).
func selfID(ctx context.Context, c *xsclient.Client) (uint32, error) {
	v, err := c.ReadString(ctx, pv.KeyDomid)
	if errors.Is(err, xswire.ErrNotFound) {
		return 0, errors.New("this domain's id is not in XenStore (domid: xen-init-dom0 writes it for dom0, libxl for a driver domain)")
	}
	if err != nil {
		return 0, fmt.Errorf("reading this domain's id: %w", err)
	}
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil || n >= 0x7FF0 {
		return 0, fmt.Errorf("domid: %q is not a domain id", v)
	}
	return uint32(n), nil
}

// lock takes the lock file of kind k, or says which process has it.
func lock(dir string, k pv.Kind) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "backend-"+string(k)+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		pid, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another xfeat backend serves %ss here (pid %s, lock %s)", k, strings.TrimSpace(string(pid)), path)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

func (s *Server) unlock() {
	for _, f := range s.locks {
		f.Truncate(0)
		f.Close() // the lock goes with the descriptor
	}
	s.locks = nil
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

// prefixed is a driver's log: lines about a device (a *xenbus.Device
// first, by the drivers' convention) are limited per the device's guest.
func (s *Server) prefixed(p string) func(string, ...any) {
	return func(format string, args ...any) {
		var dom uint32
		if len(args) > 0 {
			if d, ok := args[0].(*xenbus.Device); ok {
				dom = d.FrontendID
			}
		}
		s.lim.Logf(dom, p+": "+format, args...)
	}
}

// Self is the id of the domain the server runs in.
func (s *Server) Self() uint32 { return s.self }

// Devices lists the devices being served.
func (s *Server) Devices() []xenbus.DeviceStatus {
	var out []xenbus.DeviceStatus
	for _, b := range s.buses {
		out = append(out, b.Devices()...)
	}
	return out
}

// Run advertises each type's schema and serves its devices until ctx is
// done; then every device past InitWait is disconnected and Closed (with
// its interface, for a vif), and the schemas are removed. A device still
// InitWait is left so, its vif interface kept, for the next run. An error
// in one type's bus stops all.
func (s *Server) Run(ctx context.Context) error {
	defer s.shutdown()
	if s.vifs != nil {
		s.vifs.run = ctx
	}
	for _, b := range s.buses {
		if err := b.Advertise(ctx); err != nil {
			return fmt.Errorf("%s backend: advertising the schema: %w", b.Driver.Kind(), err)
		}
		s.logf("%s backend: schema advertised under %s", b.Driver.Kind(), pv.SchemaDir(s.self, b.Driver.Kind()))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(s.buses))
	var wg sync.WaitGroup
	for _, b := range s.buses {
		wg.Go(func() {
			if err := b.Run(ctx); err != nil {
				errc <- err
				cancel()
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// shutdownLimit bounds removing the schemas when the server stops.
const shutdownLimit = 5 * time.Second

func (s *Server) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownLimit)
	defer cancel()
	for _, b := range s.buses {
		dir := pv.SchemaDir(s.self, b.Driver.Kind())
		if err := s.cfg.XenStore.Rm(ctx, dir); err != nil && !errors.Is(err, xswire.ErrNotFound) {
			s.logf("%s backend: removing the schema: %v", b.Driver.Kind(), err)
		}
	}
	if s.taps != nil {
		s.taps.Close()
	}
	s.logf("stopped: %d grant mappings, %d event channels left", s.plat.Mapped(), s.plat.Bound())
	s.plat.Close()
	s.lim.Close()
	s.unlock()
}
