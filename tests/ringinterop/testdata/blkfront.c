/* A blkif frontend written with Xen's own ring.h macros, driving a backend
 * in another process (the Go backend under test) over the sandbox host's
 * shared memory files. The backend polls; so does this program.
 *
 * usage: blkfront DIR GUEST_DOMID BACKEND_DOMID ORDER NREQ
 * Prints "READY <ref0> <ref1> ..." once the ring is granted, then
 * "DONE <nreq> <notifications>" after checking every response. */
#include "xfeat_host.h"

#define MAX_INFLIGHT 64
#define RING_FRAME0 0
#define DATA_FRAME0 64

int main(int argc, char **argv) {
	if (argc != 6)
		die("usage: blkfront DIR GUEST BACKEND ORDER NREQ");
	const char *dir = argv[1];
	int guest = atoi(argv[2]);
	domid_t be = atoi(argv[3]);
	int order = atoi(argv[4]);
	uint32_t nreq = strtoul(argv[5], NULL, 10);
	int npages = 1 << order;

	size_t memlen, tlen;
	uint8_t *mem = map_file(dir, guest, "mem", &memlen, NULL);
	grant_entry_v1_t *gt = map_file(dir, guest, "gnttab", &tlen, NULL);
	size_t nent = tlen / sizeof(grant_entry_v1_t);
	if (memlen < (size_t)(DATA_FRAME0 + MAX_INFLIGHT * 11) * PAGE || nent < 8 + 16 + MAX_INFLIGHT * 11)
		die("guest too small");

	blkif_sring_t *sring = (blkif_sring_t *)(mem + RING_FRAME0 * PAGE);
	blkif_front_ring_t fr;
	SHARED_RING_INIT(sring);
	FRONT_RING_INIT(&fr, sring, (size_t)npages * PAGE);
	if (RING_SIZE(&fr) != (32u << order))
		die("ring size %u for order %d", RING_SIZE(&fr), order);

	printf("READY");
	for (int p = 0; p < npages; p++) {
		grant(gt, 8 + p, be, RING_FRAME0 + p, 0);
		printf(" %d", 8 + p);
	}
	printf("\n");
	fflush(stdout);

	/* In-flight slot k owns data frames/refs DATA_FRAME0 + k*11 + s, granted
	 * per request (read-only for writes) and revoked after the response. */
	uint32_t slot_of[MAX_INFLIGHT]; /* request index in flight per slot, or -1 */
	int freeslots[MAX_INFLIGHT], nfree = MAX_INFLIGHT;
	for (int k = 0; k < MAX_INFLIGHT; k++) {
		freeslots[k] = MAX_INFLIGHT - 1 - k;
		slot_of[k] = UINT32_MAX;
	}
	struct evtchn ev = {0};
	int use_ev = evtchn_open(&ev, dir, guest);
	uint32_t sent = 0, done = 0, notifies = 0;
	unsigned spins = 0;
	while (done < nreq) {
		int produced = 0;
		while (sent < nreq && nfree > 0 && !RING_FULL(&fr)) {
			uint32_t i = sent++;
			int k = freeslots[--nfree];
			slot_of[k] = i;
			blkif_request_t *req = RING_GET_REQUEST(&fr, fr.req_prod_pvt);
			req->operation = plan_op(i);
			req->nr_segments = plan_nseg(i);
			req->handle = 0x33;
			req->id = ((uint64_t)k << 56) | plan_id(i);
			req->sector_number = (uint64_t)i * 88;
			for (int s = 0; s < req->nr_segments; s++) {
				uint32_t frame = DATA_FRAME0 + k * 11 + s;
				grant_ref_t ref = 8 + 16 + k * 11 + s;
				uint8_t *pg = mem + (size_t)frame * PAGE;
				int first = plan_first(i, s);
				if (req->operation == BLKIF_OP_WRITE)
					for (int o = first * 512; o < PAGE; o++)
						pg[o] = pattern(plan_id(i), s, o);
				else
					memset(pg, 0, PAGE);
				grant(gt, ref, be, frame, req->operation == BLKIF_OP_WRITE);
				req->seg[s].gref = ref;
				req->seg[s].first_sect = first;
				req->seg[s].last_sect = 7;
			}
			fr.req_prod_pvt++;
			produced = 1;
		}
		if (produced) {
			int notify;
			RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&fr, notify);
			notifies += notify;
			if (notify && use_ev)
				evtchn_notify(&ev);
		}
		int more;
		RING_FINAL_CHECK_FOR_RESPONSES(&fr, more);
		if (!more && use_ev) {
			evtchn_wait(&ev); /* everything producible is in flight */
			continue;
		}
		if (!more) {
			if (++spins % 64 == 0)
				sched_yield();
			else
				__asm__ __volatile__("pause" ::: "memory");
			continue;
		}
		RING_IDX rp = sring->rsp_prod;
		rmb();
		if (RING_RESPONSE_PROD_OVERFLOW(&fr, rp))
			die("backend produced too many responses: rsp_prod %u rsp_cons %u", rp, fr.rsp_cons);
		for (RING_IDX c = fr.rsp_cons; c != rp; c++) {
			blkif_response_t rsp;
			RING_COPY_RESPONSE(&fr, c, &rsp);
			int k = rsp.id >> 56;
			if (k >= MAX_INFLIGHT || slot_of[k] == UINT32_MAX)
				die("response with unknown id %#" PRIx64, rsp.id);
			uint32_t i = slot_of[k];
			if ((rsp.id & ((1ull << 56) - 1)) != plan_id(i))
				die("response id %#" PRIx64 " for request %u", rsp.id, i);
			if (rsp.operation != plan_op(i))
				die("request %u: response operation %d, want %d", i, rsp.operation, plan_op(i));
			int want = plan_op(i) == BLKIF_OP_WRITE_BARRIER ? BLKIF_RSP_EOPNOTSUPP : BLKIF_RSP_OKAY;
			if (rsp.status != want)
				die("request %u: status %d, want %d", i, rsp.status, want);
			for (int s = 0; s < plan_nseg(i); s++) {
				grant_ref_t ref = 8 + 16 + k * 11 + s;
				if (!end_access(gt, ref))
					die("request %u: backend still holds gref %u after responding", i, ref);
				if (plan_op(i) == BLKIF_OP_READ) {
					uint8_t *pg = mem + (size_t)(DATA_FRAME0 + k * 11 + s) * PAGE;
					int first = plan_first(i, s);
					for (int o = 0; o < PAGE; o++) {
						uint8_t w = o < first * 512 ? 0 : pattern(plan_id(i), s, o);
						if (pg[o] != w)
							die("request %u seg %d: read data wrong at %d (%#x, want %#x)", i, s, o, pg[o], w);
					}
				}
			}
			slot_of[k] = UINT32_MAX;
			freeslots[nfree++] = k;
			done++;
		}
		fr.rsp_cons = rp;
	}
	printf("DONE %u %u %u\n", done, notifies, use_ev ? ev.waits : 0);
	return 0;
}
