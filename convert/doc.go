// Package convert translates a domain between xl.cfg and libvirt's domain
// XML (<domain type='xen'>), feature requests included, without a running
// hypervisor: `xfeat convert --to libvirt` and `--from libvirt`.
//
// It sits on top of package parser and parser/devspec rather than inside
// them: it reads an xl.cfg the way they do (a parsed File, the devices and
// feature requests of devspec.CheckFile) and writes one through parser's
// writer, but XML is no part of reading xl.cfg. It is a top-level package
// because the command and the tests (tests/internal/libvirtoracle compares
// its XML with libvirt's own converter on a real Xen host) use it.
//
// # Data flow
//
// ToLibvirt takes a parsed File; the file is checked as xfeat validate
// checks it (its errors are ToLibvirt's), then every top-level setting and
// every device key is either written in libvirt's element for it or kept
// in xfeat's metadata element (metadata.go), with a warning at its
// FILE:LINE:COL. FromLibvirt takes XML bytes and returns xl.cfg text; each
// element or attribute it does not use is a warning at its FILE:LINE:COL.
// Options.Strict turns every warning into an error. Both return nil output
// when there is an error.
//
// # Mapping
//
// The standard parts follow libvirt's xen-xl converter (src/libxl/xen_xl.c
// and xen_common.c): name, uuid; memory and maxmem as <currentMemory> and
// <memory> (KiB); vcpus and maxvcpus as <vcpu current=>; type as
// <os><type> (linux/xenpv, xenpvh/xenpvh, hvm/xenfv, arch x86_64); kernel,
// ramdisk, cmdline (else root= and extra= joined as libvirt joins them),
// bootloader; on_poweroff, on_reboot, on_crash; max_grant_frames and
// max_event_channels as attributes of <controller type='xenbus'>;
// e820_host as <features><xen><e820_host state=>; for HVM guests pae,
// acpi, apic, hap, viridian, boot, vnc/sdl as one <graphics> and serial;
// a PV or PVH guest's single vfb as <graphics>. A vif is an <interface>
// (type bridge when bridge= is set or the script is vif-bridge, else
// ethernet; mac, source bridge, ip, script, model — type=vif as <model
// type='netfront'/> —, vifname as <target dev>, backend as
// <backenddomain>, rate as <bandwidth><outbound average=>, mtu); a disk
// is a <disk> (format and backendtype as <driver type= name=>, target as
// <source file=|dev=>, vdev as <target dev= bus=>, access=ro as
// <readonly/>, devtype=cdrom, backend, discard as <driver discard=>).
//
// Feature requests (devspec's names) go into libvirt's elements where one
// exists: multi-queue-max-queues is <driver queues=> of an interface and
// of a disk; feature-gso-tcpv4, feature-gso-tcpv6 and
// feature-no-csum-offload are <driver><host tso4= tso6= csum=/> — the
// shorthands' names and polarity, taken from devspec. Every other request
// is an <xfeat:feature> of the device's entry in the metadata.
//
// # Deliberate differences from libvirt's converter
//
// tests/xenhost compares the XML with what libvirt 9's own converter
// (virsh domxml-from-native xen-xl, on a real Xen host) makes of the same
// files, on the elements both write. These are the differences it allows:
//
//   - A disk without backendtype= gets no <driver name=>: libxl picks the
//     backend, where libvirt's converter writes name='qemu' (qdisk).
//   - rate= becomes the average (KiB/s) that libvirt's libxl driver turns
//     back into the same bytes per second; libvirt's converter reads the M
//     and G of a rate as 1024 and 1024², xl as 1000 and 1000², and drops
//     the interval. The exact rate is kept in the metadata.
//   - Defaults are libxl's: an HVM guest gets <graphics type='vnc'> unless
//     vnc=0 or only sdl=1 is set, and boots "cda" unless boot= says
//     otherwise; nothing is written for an unset uuid (libvirt's converter
//     makes up a random one), unset on_* actions (libvirt writes restart
//     for on_crash, whose xl default is destroy), memory or vcpus.
//   - A vif without mac= gets no <mac>: libvirt's converter writes
//     00:00:00:00:00:00, which defining the domain would keep; without it
//     a MAC is made up when the domain is created (xl) or defined
//     (libvirt).
//   - A bridge with a '.' is a bridge name, not Open vSwitch's BRIDGE.VLAN.
//   - e820_host=0 is written as <e820_host state='off'/>.
//   - Implicit devices (the PV <console>, xen <input>s, <memballoon>) and
//     <clock> are not written; reading, they are taken silently.
//   - What libvirt's converter drops silently is kept: mtu, backend and
//     queues as libvirt elements, gatewaydev, trusted and the rest in the
//     metadata, with a warning.
//   - The file is read as xl reads it. libvirt reads xl.cfg with a reader
//     of its own, which refuses hexadecimal numbers, +=, an escaped quote
//     and a comment inside a list, and reads some things otherwise: a
//     number with a leading 0 (010 is ten to libvirt, eight to xl), a
//     string with escapes (taken as written) and a key set twice (its
//     first value, where xl takes the last). Its converter also refuses
//     cpus as a list and a vif item without '=' (a flag such as trusted).
//     xfeat converts all of these.
//
// Where xl and libvirt differ, the XML says what libvirt does, and what
// xl would do otherwise is kept in the metadata, with a warning: an HVM
// guest with vnc=1 and sdl=1 (xl starts both) gets the VNC display only,
// as libvirt starts one display, its first; pae=0 is <pae/>, as libvirt's
// libxl driver turns PAE on for every x86_64 HVM guest.

// # Invariants
//
// Every XML written passes libvirt's RNG schema (virt-xml-validate);
// every xl.cfg written passes xfeat validate (FromLibvirt checks it).
// ToLibvirt then FromLibvirt gives back the source's settings exactly (as
// xfeat parse -o json shows them, last value of each name); FromLibvirt
// then ToLibvirt gives back the same XML for everything both sides
// express. Neither direction panics on any input.
package convert
