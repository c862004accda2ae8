/* A blkif backend written with Xen's own ring.h macros (BACK_RING_INIT,
 * RING_COPY_REQUEST, RING_PUSH_RESPONSES_AND_CHECK_NOTIFY,
 * RING_FINAL_CHECK_FOR_REQUESTS), serving the Go frontend under test in
 * another process. It maps the granted ring pages contiguously, checks each
 * grant as Xen would (granted to this domain, writable when written), and
 * checks every request against the plan in xfeat_host.h.
 *
 * usage: blkback DIR GUEST_DOMID MY_DOMID NREQ REF0 [REF1 ...]
 * Prints "DONE <nreq> <notifications>". */
#include "xfeat_host.h"

int main(int argc, char **argv) {
	if (argc < 6)
		die("usage: blkback DIR GUEST ME NREQ REF0 [REF...]");
	const char *dir = argv[1];
	int guest = atoi(argv[2]);
	domid_t me = atoi(argv[3]);
	uint32_t nreq = strtoul(argv[4], NULL, 10);
	int npages = argc - 5;

	size_t memlen, tlen;
	int memfd;
	uint8_t *mem = map_file(dir, guest, "mem", &memlen, &memfd);
	grant_entry_v1_t *gt = map_file(dir, guest, "gnttab", &tlen, NULL);
	size_t nent = tlen / sizeof(grant_entry_v1_t);
	size_t npfn = memlen / PAGE;

	uint8_t *area = mmap(NULL, (size_t)npages * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		die("reserve ring area");
	for (int p = 0; p < npages; p++) {
		grant_ref_t ref = strtoul(argv[5 + p], NULL, 10);
		long f = acquire(gt, nent, ref, me, 1);
		if (f < 0 || (size_t)f >= npfn)
			die("ring-ref%d %u: not granted writable to domain %d", p, ref, me);
		if (mmap(area + (size_t)p * PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd, (off_t)f * PAGE) == MAP_FAILED)
			die("map ring page %d", p);
	}
	blkif_sring_t *sring = (blkif_sring_t *)area;
	blkif_back_ring_t br;
	BACK_RING_INIT(&br, sring, (size_t)npages * PAGE);
	if (RING_SIZE(&br) != (32u << __builtin_ctz(npages)))
		die("ring size %u for %d pages", RING_SIZE(&br), npages);

	struct evtchn ev = {0};
	int use_ev = evtchn_open(&ev, dir, me);
	uint32_t done = 0, notifies = 0;
	unsigned spins = 0;
	while (done < nreq) {
		int more;
		RING_FINAL_CHECK_FOR_REQUESTS(&br, more);
		if (!more && use_ev) {
			evtchn_wait(&ev);
			continue;
		}
		if (!more) {
			if (++spins % 64 == 0)
				sched_yield();
			else
				__asm__ __volatile__("pause" ::: "memory");
			continue;
		}
		RING_IDX rc = br.req_cons, rp = sring->req_prod;
		rmb();
		if (RING_REQUEST_PROD_OVERFLOW(&br, rp))
			die("frontend produced too many requests: req_prod %u rsp_prod_pvt %u", rp, br.rsp_prod_pvt);
		while (rc != rp && !RING_REQUEST_CONS_OVERFLOW(&br, rc)) {
			blkif_request_t req;
			RING_COPY_REQUEST(&br, rc, &req);
			br.req_cons = ++rc;
			uint64_t low = req.id & ((1ull << 56) - 1);
			if (low < 0x1000000 || (low - 0x1000000) % 7)
				die("request id %#" PRIx64 " not in the plan", req.id);
			uint32_t i = (low - 0x1000000) / 7;
			if (i >= nreq || req.operation != plan_op(i) || req.nr_segments != plan_nseg(i) || req.handle != 0x33 ||
			    req.sector_number != (uint64_t)i * 88)
				die("request %u: op %d nseg %d handle %#x sector %" PRIu64 " differ from the plan", i, req.operation,
				    req.nr_segments, req.handle, req.sector_number);
			int16_t status = BLKIF_RSP_OKAY;
			if (req.operation == BLKIF_OP_WRITE_BARRIER)
				status = BLKIF_RSP_EOPNOTSUPP;
			for (int s = 0; s < req.nr_segments; s++) {
				int first = req.seg[s].first_sect, last = req.seg[s].last_sect;
				if (first != plan_first(i, s) || last != 7)
					die("request %u seg %d: sectors %d..%d", i, s, first, last);
				int write_guest = req.operation == BLKIF_OP_READ;
				long f = acquire(gt, nent, req.seg[s].gref, me, write_guest);
				if (f < 0 || (size_t)f >= npfn)
					die("request %u seg %d: gref %u not granted %s", i, s, req.seg[s].gref, write_guest ? "writable" : "");
				uint8_t *pg = mem + (size_t)f * PAGE;
				for (int o = first * 512; o < (last + 1) * 512; o++) {
					if (write_guest)
						pg[o] = pattern(low, s, o);
					else if (pg[o] != pattern(low, s, o))
						die("request %u seg %d: data wrong at %d", i, s, o);
				}
				release(gt, req.seg[s].gref);
			}
			blkif_response_t *rsp = RING_GET_RESPONSE(&br, br.rsp_prod_pvt);
			rsp->id = req.id;
			rsp->operation = req.operation;
			rsp->status = status;
			br.rsp_prod_pvt++;
			done++;
		}
		int notify;
		RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&br, notify);
		notifies += notify;
		if (notify && use_ev)
			evtchn_notify(&ev);
	}
	for (int p = 0; p < npages; p++)
		release(gt, strtoul(argv[5 + p], NULL, 10));
	printf("DONE %u %u %u\n", done, notifies, use_ev ? ev.waits : 0);
	return 0;
}
