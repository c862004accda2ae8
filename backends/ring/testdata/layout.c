/* Prints sizeof/offsetof of the ring, blkif and netif ABI as compiled by gcc
 * against Debian's Xen headers; layout_unsafe_test.go compares them with the
 * Go structs. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <xen/io/ring.h>
#include <xen/io/blkif.h>
#include <xen/io/netif.h>
#include <xen/grant_table.h>

#define S(t) printf("sizeof %s %zu\n", #t, sizeof(t))
#define O(t, f) printf("offsetof %s.%s %zu\n", #t, #f, offsetof(t, f))

int main(void) {
	S(struct blkif_request_segment);
	O(struct blkif_request_segment, gref);
	O(struct blkif_request_segment, first_sect);
	O(struct blkif_request_segment, last_sect);
	S(struct blkif_request);
	O(struct blkif_request, operation);
	O(struct blkif_request, nr_segments);
	O(struct blkif_request, handle);
	O(struct blkif_request, id);
	O(struct blkif_request, sector_number);
	O(struct blkif_request, seg);
	S(struct blkif_request_discard);
	O(struct blkif_request_discard, operation);
	O(struct blkif_request_discard, flag);
	O(struct blkif_request_discard, handle);
	O(struct blkif_request_discard, id);
	O(struct blkif_request_discard, sector_number);
	O(struct blkif_request_discard, nr_sectors);
	S(struct blkif_request_indirect);
	O(struct blkif_request_indirect, operation);
	O(struct blkif_request_indirect, indirect_op);
	O(struct blkif_request_indirect, nr_segments);
	O(struct blkif_request_indirect, id);
	O(struct blkif_request_indirect, sector_number);
	O(struct blkif_request_indirect, handle);
	O(struct blkif_request_indirect, indirect_grefs);
	S(struct blkif_response);
	O(struct blkif_response, id);
	O(struct blkif_response, operation);
	O(struct blkif_response, status);
	S(union blkif_sring_entry);
	O(struct blkif_sring, req_prod);
	O(struct blkif_sring, req_event);
	O(struct blkif_sring, rsp_prod);
	O(struct blkif_sring, rsp_event);
	O(struct blkif_sring, pvt);
	O(struct blkif_sring, ring);

	S(struct netif_tx_request);
	O(struct netif_tx_request, gref);
	O(struct netif_tx_request, offset);
	O(struct netif_tx_request, flags);
	O(struct netif_tx_request, id);
	O(struct netif_tx_request, size);
	S(struct netif_tx_response);
	O(struct netif_tx_response, id);
	O(struct netif_tx_response, status);
	S(struct netif_rx_request);
	O(struct netif_rx_request, id);
	O(struct netif_rx_request, gref);
	S(struct netif_rx_response);
	O(struct netif_rx_response, id);
	O(struct netif_rx_response, offset);
	O(struct netif_rx_response, flags);
	O(struct netif_rx_response, status);
	S(struct netif_extra_info);
	O(struct netif_extra_info, type);
	O(struct netif_extra_info, flags);
	O(struct netif_extra_info, u);
	O(struct netif_extra_info, u.gso.size);
	O(struct netif_extra_info, u.gso.type);
	O(struct netif_extra_info, u.gso.features);
	O(struct netif_extra_info, u.hash.type);
	O(struct netif_extra_info, u.hash.algorithm);
	O(struct netif_extra_info, u.hash.value);
	S(union netif_tx_sring_entry);
	S(union netif_rx_sring_entry);
	O(struct netif_tx_sring, ring);

	/* Ring sizes for 1..16 pages (__CONST_RING_SIZE). */
	printf("ringsize blkif 1 %lu\n", (unsigned long)__CONST_RING_SIZE(blkif, 4096));
	printf("ringsize blkif 2 %lu\n", (unsigned long)__CONST_RING_SIZE(blkif, 8192));
	printf("ringsize blkif 4 %lu\n", (unsigned long)__CONST_RING_SIZE(blkif, 16384));
	printf("ringsize blkif 8 %lu\n", (unsigned long)__CONST_RING_SIZE(blkif, 32768));
	printf("ringsize blkif 16 %lu\n", (unsigned long)__CONST_RING_SIZE(blkif, 65536));
	printf("ringsize netif_tx 1 %lu\n", (unsigned long)__CONST_RING_SIZE(netif_tx, 4096));
	printf("ringsize netif_rx 1 %lu\n", (unsigned long)__CONST_RING_SIZE(netif_rx, 4096));

	/* Constants. */
	printf("const BLKIF_OP_INDIRECT %d\n", BLKIF_OP_INDIRECT);
	printf("const BLKIF_OP_DISCARD %d\n", BLKIF_OP_DISCARD);
	printf("const BLKIF_OP_FLUSH_DISKCACHE %d\n", BLKIF_OP_FLUSH_DISKCACHE);
	printf("const BLKIF_MAX_SEGMENTS_PER_REQUEST %d\n", BLKIF_MAX_SEGMENTS_PER_REQUEST);
	printf("const BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST %d\n", BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);
	printf("const BLKIF_RSP_EOPNOTSUPP %d\n", BLKIF_RSP_EOPNOTSUPP);
	printf("const NETTXF_extra_info %d\n", NETTXF_extra_info);
	printf("const NETRXF_gso_prefix %d\n", NETRXF_gso_prefix);
	printf("const XEN_NETIF_EXTRA_TYPE_HASH %d\n", XEN_NETIF_EXTRA_TYPE_HASH);
	printf("const XEN_NETIF_NR_SLOTS_MIN %d\n", XEN_NETIF_NR_SLOTS_MIN);
	printf("const NETIF_RSP_DROPPED %d\n", NETIF_RSP_DROPPED);
	printf("const NETIF_RSP_NULL %d\n", NETIF_RSP_NULL);
	return 0;
}
