/* The C twin of BenchmarkBlkifRoundTrip (bench_test.go): a frontend and a
 * backend on two pthreads, spinning, move N blkif requests and responses
 * through a ring of 1, 2, 4 or 8 pages using Xen's ring.h macros, with the
 * same structure as the Go benchmark: the frontend fills every free slot
 * in place (RING_GET_REQUEST),
 * pushes with RING_PUSH_REQUESTS_AND_CHECK_NOTIFY and drains responses; the
 * backend copies each request out (RING_COPY_REQUEST), writes a response
 * and pushes when it runs out of requests. Both sides call sched_yield after
 * 64 empty polls, like the Go side, so an oversubscribed machine does not
 * leave one side spinning against a descheduled peer.
 *
 * usage: bench_roundtrip [ROUNDS] [SECONDS]
 * Prints Go-benchmark-style lines: BenchmarkBlkifRoundTripC/pages=P N X ns/op */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define mb()  __sync_synchronize()
#define rmb() __asm__ __volatile__("" ::: "memory")
#define wmb() __asm__ __volatile__("" ::: "memory")
#include <xen/xen.h>
#include <xen/io/ring.h>
#include <xen/io/blkif.h>

#define PAGE 4096
#define YIELD_AFTER 64

/* The same spin policy as the Go side, which has no PAUSE instruction: a
 * compiler barrier between polls, sched_yield every YIELD_AFTER. */
static inline void relax(unsigned *spins) {
	if (++*spins % YIELD_AFTER == 0)
		sched_yield();
	else
		__asm__ __volatile__("" ::: "memory");
}

/* Each side's private state on its own cache lines: the stop flag the
 * backend polls must not share a line with anything the frontend writes. */
struct shared {
	blkif_sring_t *sring;
	size_t size;
	char pad[64];
	volatile int stop;
} __attribute__((aligned(64)));

static void *backend(void *arg) {
	struct shared *sh = arg;
	blkif_back_ring_t br;
	BACK_RING_INIT(&br, sh->sring, sh->size);
	unsigned spins = 0;
	while (!sh->stop) {
		RING_IDX rc = br.req_cons, rp = ((volatile blkif_sring_t *)sh->sring)->req_prod;
		rmb();
		if (RING_REQUEST_PROD_OVERFLOW(&br, rp)) {
			fprintf(stderr, "overflow\n");
			exit(1);
		}
		if (rc == rp) {
			relax(&spins);
			continue;
		}
		while (rc != rp && !RING_REQUEST_CONS_OVERFLOW(&br, rc)) {
			blkif_request_t req;
			RING_COPY_REQUEST(&br, rc, &req);
			br.req_cons = ++rc;
			blkif_response_t *rsp = RING_GET_RESPONSE(&br, br.rsp_prod_pvt);
			rsp->id = req.id;
			rsp->operation = req.operation;
			rsp->status = BLKIF_RSP_OKAY;
			br.rsp_prod_pvt++;
		}
		/* Publish the batch once it is drained, as blkback does. */
		int notify;
		RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&br, notify);
		(void)notify;
	}
	return NULL;
}

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* run moves n requests through a ring of pages pages; returns seconds. */
static double run(int pages, uint64_t n) {
	size_t size = (size_t)pages * PAGE;
	blkif_sring_t *sring = aligned_alloc(PAGE, size);
	memset(sring, 0, size);
	blkif_front_ring_t fr;
	SHARED_RING_INIT(sring);
	FRONT_RING_INIT(&fr, sring, size);
	static struct shared sh;
	sh.sring = sring;
	sh.size = size;
	sh.stop = 0;
	pthread_t th;
	pthread_create(&th, NULL, backend, &sh);

	uint64_t sent = 0, got = 0;
	unsigned spins = 0;
	double t0 = now();
	while (got < n) {
		int produced = 0;
		while (sent < n && !RING_FULL(&fr)) {
			produced = 1;
			blkif_request_t *w = RING_GET_REQUEST(&fr, fr.req_prod_pvt);
			w->operation = BLKIF_OP_READ;
			w->nr_segments = 1;
			w->handle = 1;
			w->id = sent;
			w->sector_number = sent * 8;
			w->seg[0].gref = 8;
			w->seg[0].first_sect = 0;
			w->seg[0].last_sect = 7;
			fr.req_prod_pvt++;
			sent++;
		}
		if (produced) { /* only a push that adds requests, as blkfront does */
			int notify;
			RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&fr, notify);
			(void)notify;
		}
		RING_IDX rp = ((volatile blkif_sring_t *)sring)->rsp_prod;
		rmb();
		if (fr.rsp_cons == rp) {
			relax(&spins);
			continue;
		}
		for (RING_IDX c = fr.rsp_cons; c != rp; c++) {
			blkif_response_t rsp;
			RING_COPY_RESPONSE(&fr, c, &rsp);
			if (rsp.id != got) {
				fprintf(stderr, "response %lu has id %lu\n", (unsigned long)got, (unsigned long)rsp.id);
				exit(1);
			}
			got++;
		}
		fr.rsp_cons = rp;
	}
	double dt = now() - t0;
	sh.stop = 1;
	pthread_join(th, NULL);
	free(sring);
	return dt;
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 1;
	double secs = argc > 2 ? atof(argv[2]) : 1.0;
	int pagesv[] = {1, 2, 4, 8};
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < 4; i++) {
			/* Grow n like the Go benchmark does until a run takes secs. */
			uint64_t n = 1000;
			double dt = run(pagesv[i], n);
			while (dt < secs) {
				uint64_t next = dt > 0 ? (uint64_t)(n * secs / dt * 1.2) : n * 100;
				if (next > n * 100)
					next = n * 100;
				if (next <= n)
					next = n + 1;
				n = next;
				dt = run(pagesv[i], n);
			}
			printf("BenchmarkBlkifRoundTripC/pages=%d\t%lu\t%.2f ns/op\n", pagesv[i], (unsigned long)n, dt * 1e9 / n);
			fflush(stdout);
		}
	}
	return 0;
}
