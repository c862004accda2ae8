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
