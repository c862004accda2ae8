// Package grant is the sandbox host's grant tables: guest memory and Xen's
// grant_entry_v1 table in shared memory files, so that a guest (frontend) in
// one process can grant pages and a backend in another can map or copy them
// with Xen's rules.
//
// # Files
//
// For domain N in a run directory dir:
//
//	dir/domN.mem     guest memory: Pages()*4096 bytes; a frame number is a page index
//	dir/domN.gnttab  the shared grant table: max_grant_frames*4096 bytes of
//	                 grant_entry_v1 {flags u16 @0, domid u16 @2, frame u32 @4},
//	                 512 entries a frame (xen/include/public/grant_table.h)
//	dir/domN.gntpin  hypervisor-private state: per entry a spin lock and the
//	                 counts of read-only and writable users (Xen's active
//	                 grant entry), which the guest never writes
//
// Any process (a C program included) that maps these files sees Xen's layout.
//
// # Rules, as Xen applies them
//
// A guest grants a frame to one domain by writing frame and domid, then flags
// (GTF_permit_access, optionally GTF_readonly). A backend domain may map or
// copy only entries granted to its own domid, writably only when not
// GTF_readonly. While an entry is in use the host sets GTF_reading (and
// GTF_writing for writable use) with a compare-and-swap on the entry, as Xen's
// _set_status_v1 does, and clears them when the last user goes; a guest's
// EndAccess fails with ErrInUse while either bit is set. Statuses are Xen's
// GNTST_* values.
//
// # Accounting
//
// Every Map returns a Handle that Unmap releases; Mapper.Mapped counts the
// live ones, so a test can assert that none leaked. Read-only mappings are
// slices of a PROT_READ mapping of guest memory: writing through one faults,
// as it would under Xen.
//
// The pin spin locks are held only for a few loads and a compare-and-swap; a
// process killed while holding one would wedge that entry (never the table),
// which is acceptable for the sandbox.
package grant
