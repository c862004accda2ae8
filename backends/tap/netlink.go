package tap

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named network namespaces live (as `ip netns` keeps them).
const NetnsDir = "/run/netns"

// EnsureBridge makes sure a Linux bridge named name exists and is up.
// created says whether this call created it. An existing link of that name
// that is not a bridge is an error.
func EnsureBridge(name string) (created bool, err error) {
	if l, err := netlink.LinkByName(name); err == nil {
		if l.Type() != "bridge" {
			return false, fmt.Errorf("bridge %s: a %s link of that name exists", name, l.Type())
		}
		return false, netlink.LinkSetUp(l)
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(br); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return EnsureBridge(name)
		}
		return false, fmt.Errorf("creating bridge %s: %w", name, err)
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		return true, err
	}
	return true, netlink.LinkSetUp(l)
}

// DeleteLink removes link name from the host namespace (absent is fine).
func DeleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	return netlink.LinkDel(l)
}

// Release removes the TAP device Reserve made, found by its index (a
// hotplug script may have renamed it): absent is fine; a link with that
// index that is not a TAP is left alone and is an error.
func Release(ifindex int) error {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return nil
		}
		return err
	}
	if l.Type() != "tuntap" {
		return fmt.Errorf("link %d (%s) is a %s, not the TAP reserved with that index", ifindex, l.Attrs().Name, l.Type())
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("removing %s: %w", l.Attrs().Name, err)
	}
	return nil
}

// HostLink is the host-side configuration of a TAP: MTU, the bridge it is
// a port of ("" for none) and up.
type HostLink struct {
	MTU    int
	MAC    net.HardwareAddr // nil: keep the kernel's
	Bridge string
}

// ConfigureHost applies c to link name in the host namespace and brings it
// up.
func ConfigureHost(name string, c HostLink) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if c.MAC != nil {
		if err := netlink.LinkSetHardwareAddr(l, c.MAC); err != nil {
			return fmt.Errorf("%s: setting mac %s: %w", name, c.MAC, err)
		}
	}
	if c.MTU > 0 {
		if err := netlink.LinkSetMTU(l, c.MTU); err != nil {
			return fmt.Errorf("%s: setting mtu %d: %w", name, c.MTU, err)
		}
	}
	if c.Bridge != "" {
		br, err := netlink.LinkByName(c.Bridge)
		if err != nil {
			return fmt.Errorf("%s: bridge %s: %w", name, c.Bridge, err)
		}
		if err := netlink.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("%s: attaching to bridge %s: %w", name, c.Bridge, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("%s: up: %w", name, err)
	}
	return nil
}

// EnsureNetns creates the named network namespace (as `ip netns add`) if it
// does not exist. created says whether this call made it.
func EnsureNetns(name string) (created bool, err error) {
	if _, err := os.Stat(filepath.Join(NetnsDir, name)); err == nil {
		return false, nil
	}
	// netns.NewNamed moves the calling thread into the new namespace:
	// do it on a locked thread and move back.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return false, err
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name)
	if err != nil {
		netns.Set(orig)
		return false, fmt.Errorf("creating network namespace %s: %w", name, err)
	}
	ns.Close()
	if err := netns.Set(orig); err != nil {
		// The thread is in the wrong namespace: never hand it back.
		runtime.Goexit()
	}
	return true, nil
}

// DeleteNetns removes a named network namespace (absent is fine); the
// links still in it go with it.
func DeleteNetns(name string) error {
	if _, err := os.Stat(filepath.Join(NetnsDir, name)); err != nil {
		return nil
	}
	return netns.DeleteNamed(name)
}

// GuestLink is how a TAP is set up inside a guest's namespace.
type GuestLink struct {
	Netns string // named namespace
	Name  string // name inside it (eth0, ...)
	MAC   net.HardwareAddr
	MTU   int
	Addrs []*net.IPNet
	// GSOMaxSize, if set, bounds the frames the guest's stack hands the
	// TAP (netif's tx size field has 16 bits).
	GSOMaxSize int
}

// MoveToGuest moves host link name into g.Netns, renames it, sets its MAC,
// MTU and addresses and brings it and the namespace's loopback up.
func MoveToGuest(name string, g GuestLink) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	ns, err := netns.GetFromName(g.Netns)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", g.Netns, err)
	}
	defer ns.Close()
	if err := netlink.LinkSetNsFd(l, int(ns)); err != nil {
		return fmt.Errorf("%s: moving to namespace %s: %w", name, g.Netns, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err = h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", name, g.Netns, err)
	}
	if g.Name != "" && g.Name != name {
		if err := h.LinkSetName(l, g.Name); err != nil {
			return fmt.Errorf("%s in %s: renaming to %s: %w", name, g.Netns, g.Name, err)
		}
	}
	if g.MAC != nil {
		if err := h.LinkSetHardwareAddr(l, g.MAC); err != nil {
			return fmt.Errorf("%s in %s: mac %s: %w", g.Name, g.Netns, g.MAC, err)
		}
	}
	if g.MTU > 0 {
		if err := h.LinkSetMTU(l, g.MTU); err != nil {
			return fmt.Errorf("%s in %s: mtu %d: %w", g.Name, g.Netns, g.MTU, err)
		}
	}
	if g.GSOMaxSize > 0 {
		if err := h.LinkSetGSOMaxSize(l, g.GSOMaxSize); err != nil {
			return fmt.Errorf("%s in %s: gso_max_size %d: %w", g.Name, g.Netns, g.GSOMaxSize, err)
		}
	}
	for _, a := range g.Addrs {
		if err := h.AddrAdd(l, &netlink.Addr{IPNet: a}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("%s in %s: address %s: %w", g.Name, g.Netns, a, err)
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("%s in %s: up: %w", g.Name, g.Netns, err)
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		h.LinkSetUp(lo)
	}
	return nil
}
