/* Prints the layout and ioctl numbers of Linux's Xen device interface as
 * the installed uapi headers define them, for TestLayoutAgainstLinuxHeaders:
 * one "name value" per line. */
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <xen/xen.h>          /* domid_t (Xen's public headers) */
#include <xen/grant_table.h>  /* grant_ref_t, GNTCOPY_* */
#include <xen/gntdev.h>       /* Linux's uapi, from linux-libc-dev */
#include <xen/gntalloc.h>
#include <xen/evtchn.h>

#define SIZE(t) printf("sizeof %s %zu\n", #t, sizeof(t))
#define OFF(t, f) printf("offsetof %s.%s %zu\n", #t, #f, offsetof(t, f))
#define NUM(n) printf("%s %lu\n", #n, (unsigned long)(n))

int main(void)
{
	SIZE(struct ioctl_gntdev_grant_ref);
	OFF(struct ioctl_gntdev_grant_ref, domid);
	OFF(struct ioctl_gntdev_grant_ref, ref);
	SIZE(struct ioctl_gntdev_map_grant_ref);
	OFF(struct ioctl_gntdev_map_grant_ref, count);
	OFF(struct ioctl_gntdev_map_grant_ref, index);
	OFF(struct ioctl_gntdev_map_grant_ref, refs);
	SIZE(struct ioctl_gntdev_unmap_grant_ref);
	OFF(struct ioctl_gntdev_unmap_grant_ref, index);
	OFF(struct ioctl_gntdev_unmap_grant_ref, count);
	SIZE(struct ioctl_gntdev_set_max_grants);
	SIZE(struct gntdev_grant_copy_segment);
	OFF(struct gntdev_grant_copy_segment, source);
	OFF(struct gntdev_grant_copy_segment, source.foreign.ref);
	OFF(struct gntdev_grant_copy_segment, source.foreign.offset);
	OFF(struct gntdev_grant_copy_segment, source.foreign.domid);
	OFF(struct gntdev_grant_copy_segment, dest);
	OFF(struct gntdev_grant_copy_segment, len);
	OFF(struct gntdev_grant_copy_segment, flags);
	OFF(struct gntdev_grant_copy_segment, status);
	SIZE(struct ioctl_gntdev_grant_copy);
	OFF(struct ioctl_gntdev_grant_copy, count);
	OFF(struct ioctl_gntdev_grant_copy, segments);
	SIZE(struct ioctl_gntalloc_alloc_gref);
	OFF(struct ioctl_gntalloc_alloc_gref, domid);
	OFF(struct ioctl_gntalloc_alloc_gref, flags);
	OFF(struct ioctl_gntalloc_alloc_gref, count);
	OFF(struct ioctl_gntalloc_alloc_gref, index);
	OFF(struct ioctl_gntalloc_alloc_gref, gref_ids);
	SIZE(struct ioctl_gntalloc_dealloc_gref);
	OFF(struct ioctl_gntalloc_dealloc_gref, index);
	OFF(struct ioctl_gntalloc_dealloc_gref, count);
	SIZE(struct ioctl_evtchn_bind_interdomain);
	OFF(struct ioctl_evtchn_bind_interdomain, remote_port);
	SIZE(struct ioctl_evtchn_bind_unbound_port);
	SIZE(struct ioctl_evtchn_unbind);
	SIZE(struct ioctl_evtchn_notify);

	NUM(IOCTL_GNTDEV_MAP_GRANT_REF);
	NUM(IOCTL_GNTDEV_UNMAP_GRANT_REF);
	NUM(IOCTL_GNTDEV_SET_MAX_GRANTS);
	NUM(IOCTL_GNTDEV_GRANT_COPY);
	NUM(IOCTL_GNTALLOC_ALLOC_GREF);
	NUM(IOCTL_GNTALLOC_DEALLOC_GREF);
	NUM(IOCTL_EVTCHN_BIND_INTERDOMAIN);
	NUM(IOCTL_EVTCHN_BIND_UNBOUND_PORT);
	NUM(IOCTL_EVTCHN_UNBIND);
	NUM(IOCTL_EVTCHN_NOTIFY);
	NUM(IOCTL_EVTCHN_RESET);
	NUM(GNTCOPY_source_gref);
	NUM(GNTCOPY_dest_gref);
	NUM(GNTALLOC_FLAG_WRITABLE);
	return 0;
}
