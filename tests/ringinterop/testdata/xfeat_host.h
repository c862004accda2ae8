/* Shared helpers for the C side of the ring interop tests: the sandbox
 * host's files (see backends/grant and backends/ring), Xen's own headers for
 * every layout, and the request plan both sides check.
 *
 * dir/domN.mem     guest memory, frame f at offset f*4096
 * dir/domN.gnttab  grant_entry_v1 table
 */
#ifndef XFEAT_HOST_H
#define XFEAT_HOST_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <limits.h>
#include <time.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>

/* ring.h leaves the barriers to the includer (Linux userspace, x86 TSO). */
#define mb()  __sync_synchronize()
#define rmb() __asm__ __volatile__("" ::: "memory")
#define wmb() __asm__ __volatile__("" ::: "memory")

#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/ring.h>
#include <xen/io/blkif.h>

#define PAGE 4096

#define die(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

static inline void *map_file(const char *dir, int dom, const char *ext, size_t *len, int *fdp) {
	char path[4096];
	snprintf(path, sizeof path, "%s/dom%d.%s", dir, dom, ext);
	int fd = open(path, O_RDWR);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		die("stat %s", path);
	void *p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap %s: %s", path, strerror(errno));
	*len = st.st_size;
	if (fdp)
		*fdp = fd;
	else
		close(fd);
	return p;
}

/* Guest side: gnttab_grant_foreign_access_ref. */
static inline void grant(grant_entry_v1_t *t, grant_ref_t ref, domid_t dom, uint32_t frame, int ro) {
	t[ref].frame = frame;
	t[ref].domid = dom;
	wmb();
	t[ref].flags = GTF_permit_access | (ro ? GTF_readonly : 0);
}

/* Guest side: gnttab_end_foreign_access_ref; 0 while the backend uses it. */
static inline int end_access(grant_entry_v1_t *t, grant_ref_t ref) {
	uint16_t flags = t[ref].flags, nflags;
	do {
		nflags = flags;
		if (flags & (GTF_reading | GTF_writing))
			return 0;
	} while ((flags = __sync_val_compare_and_swap(&t[ref].flags, nflags, 0)) != nflags);
	return 1;
}

/* Backend + hypervisor side: the checks and GTF_reading/GTF_writing update
 * of Xen's _set_status_v1 on the combined flags/domid word. Returns the
 * frame, or -1 (entry not granted to us, or read-only and write wanted). */
static inline long acquire(grant_entry_v1_t *t, size_t n, grant_ref_t ref, domid_t me, int write) {
	if (ref >= n)
		return -1;
	uint32_t *w = (uint32_t *)&t[ref];
	for (;;) {
		uint32_t old = __atomic_load_n(w, __ATOMIC_SEQ_CST);
		uint16_t flags = old & 0xffff, dom = old >> 16;
		if ((flags & GTF_type_mask) != GTF_permit_access || dom != me)
			return -1;
		if (write && (flags & GTF_readonly))
			return -1;
		uint32_t nw = old | GTF_reading | (write ? GTF_writing : 0);
		if (__sync_bool_compare_and_swap(w, old, nw))
			break;
	}
	return t[ref].frame;
}

static inline void release(grant_entry_v1_t *t, grant_ref_t ref) {
	__sync_fetch_and_and(&t[ref].flags, (uint16_t)~(GTF_reading | GTF_writing));
}

/* Event channels of the sandbox host (backends/evtchn): dir/domN.evtchn
 * has a 64-byte header then 64-byte port entries (state @0, remote domid @4,
 * remote port @8, pending word @16). The pending word counts notifications
 * (bits 0..29), bit 30 marks a closed port and bit 31 a sleeping waiter; it
 * is a shared futex. The
 * Go test allocates and binds the channel (port in XFEAT_EVTCHN_PORT); C
 * only notifies and waits. */
#define EVTCHN_COUNT ((1u << 30) - 1)
#define EVTCHN_WAITER (1u << 31)

struct evtchn {
	uint32_t *local, *remote;
	uint32_t notifies, waits;
};

static inline uint8_t *evtchn_entry(uint8_t *f, size_t len, uint32_t port) {
	if (*(uint32_t *)f != 0x56454658 || 64 + (size_t)(port + 1) * 64 > len)
		die("bad event channel file or port %u", port);
	return f + 64 + (size_t)port * 64;
}

/* evtchn_open finds the interdomain peer of dom's port; 0 when the
 * environment names no port (polling mode). */
static inline int evtchn_open(struct evtchn *e, const char *dir, int dom) {
	const char *ps = getenv("XFEAT_EVTCHN_PORT");
	if (!ps)
		return 0;
	size_t len, rlen;
	uint8_t *f = map_file(dir, dom, "evtchn", &len, NULL);
	uint8_t *ent = evtchn_entry(f, len, atoi(ps));
	if (*(uint32_t *)ent != 2)
		die("port %s of domain %d is not interdomain-bound", ps, dom);
	uint32_t rdom = *(uint32_t *)(ent + 4), rport = *(uint32_t *)(ent + 8);
	uint8_t *rf = map_file(dir, rdom, "evtchn", &rlen, NULL);
	e->local = (uint32_t *)(ent + 16);
	e->remote = (uint32_t *)(evtchn_entry(rf, rlen, rport) + 16);
	e->notifies = e->waits = 0;
	return 1;
}

static inline void evtchn_notify(struct evtchn *e) {
	uint32_t old = __atomic_load_n(e->remote, __ATOMIC_SEQ_CST), n;
	do {
		n = (old & EVTCHN_COUNT) < EVTCHN_COUNT ? old + 1 : old;
	} while (!__atomic_compare_exchange_n(e->remote, &old, n, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	if (old & EVTCHN_WAITER)
		syscall(SYS_futex, e->remote, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	e->notifies++;
}

/* evtchn_wait sleeps until a notification is pending and consumes all. */
static inline uint32_t evtchn_wait(struct evtchn *e) {
	e->waits++;
	for (;;) {
		uint32_t old = __atomic_load_n(e->local, __ATOMIC_SEQ_CST);
		if (old & EVTCHN_COUNT) {
			if (__atomic_compare_exchange_n(e->local, &old, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
				return old & EVTCHN_COUNT;
			continue;
		}
		if (!(old & EVTCHN_WAITER)) {
			if (!__atomic_compare_exchange_n(e->local, &old, old | EVTCHN_WAITER, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
				continue;
			old |= EVTCHN_WAITER;
		}
		struct timespec ts = {.tv_sec = 30};
		if (syscall(SYS_futex, e->local, FUTEX_WAIT, old, &ts, NULL, 0) < 0 && errno == ETIMEDOUT)
			die("no event for 30s: lost wakeup");
	}
}

/* The request plan both sides follow and check.
 * Request i: id = 0x1000000 + i * 7; operation WRITE_BARRIER every 13th
 * (answered BLKIF_RSP_EOPNOTSUPP), else READ when i % 3 == 0, else WRITE;
 * nr_segments = 1 + i % 11 (0 for the barrier); segment s uses sectors
 * first = (i + s) % 8 .. 7 of its page; the data byte at page offset o of
 * segment s is pattern(id, s, o). */
static inline uint64_t plan_id(uint32_t i) { return 0x1000000ull + (uint64_t)i * 7; }
static inline uint8_t plan_op(uint32_t i) {
	return i % 13 == 12 ? BLKIF_OP_WRITE_BARRIER : (i % 3 == 0 ? BLKIF_OP_READ : BLKIF_OP_WRITE);
}
static inline int plan_nseg(uint32_t i) { return plan_op(i) == BLKIF_OP_WRITE_BARRIER ? 0 : 1 + i % 11; }
static inline int plan_first(uint32_t i, int s) { return (i + s) % 8; }
static inline uint8_t pattern(uint64_t id, int s, int o) { return (uint8_t)(id * 131 + s * 7 + o); }

#endif
