// Package xendev is Go access to Linux's Xen devices in a real dom0 or
// driver domain: /dev/xen/gntdev (map and copy pages other domains
// granted), /dev/xen/gntalloc (grant pages of this domain to another) and
// /dev/xen/evtchn (interdomain event channels), through ioctl, mmap, read
// and write with golang.org/x/sys/unix (no cgo), per Linux's
// include/uapi/xen/{gntdev,gntalloc,evtchn}.h.
//
// It offers what the data paths already use in the sandbox, with the same
// semantics: grant copies are batches of grant.CopyOp with a grant.Status per
// op (Copier.Copy has the shape of grant.Mapper.Copy), and an event channel
// is a Channel with Notify, Wait (timeout), Kick and Close, like the sandbox's
// evtchn.Channel. Notification suppression stays with the rings.
//
// # Where data enters and leaves
//
//   - Guest memory enters through GntDev.Map (the granted pages, mapped
//     contiguously, read-only unless asked writable) and Copier.Copy (to or
//     from a local buffer). A Mapping's Mem is guest-controlled memory: the
//     guest can change it at any time.
//   - Pages leave this domain through GntAlloc.Share: the other domain reads
//     (and, when writable, writes) them while they are shared.
//   - Events enter through one reader goroutine per EvtchnDev: it reads the
//     pending ports (read(2) of uint32 ports), passes each to its Channel's
//     waiter and unmasks them (write(2) of the same ports). Events leave
//     through Channel.Notify (IOCTL_EVTCHN_NOTIFY).
//
// # Invariants
//
//   - Nothing on a hot path allocates: Map and Unmap reuse the caller's
//     Mapping (its request buffer included), Copy reuses a Copier's segment
//     batches, Notify and Wait use no heap memory.
//   - A grant the guest made read-only is mapped PROT_READ only, and a
//     writable map of it fails (the kernel's mmap refuses it; Map then
//     releases what the ioctl reserved) instead of giving writable memory.
//   - Every segment of a copy gets its own status. Ops the kernel would
//     reject for the whole batch (a grant side crossing its page, both sides
//     local, a local side outside its buffer) are refused by Copy with
//     grant.StatusBadCopyArg before the ioctl, so a hostile request fails
//     alone, as in the sandbox.
//   - Every Wait is bounded: by its timeout or context, by Kick, by the
//     Channel's Close and by the EvtchnDev's Close (ErrClosed).
//   - Unmap leaves no mapping (munmap, then IOCTL_GNTDEV_UNMAP_GRANT_REF);
//     closing an EvtchnDev leaves no port bound.
//   - A device that is not there (not a Xen domain, or its module not
//     loaded) is an error that matches ErrNoDevice and names the module to
//     load; every other error names the device and the operation.
package xendev
