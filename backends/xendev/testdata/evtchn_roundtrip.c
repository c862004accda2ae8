/* The reference for BenchmarkDom0EvtchnRoundTrip, in C with Xen's own
 * libxenevtchn: one handle allocates a port for domain 0, another binds to
 * it, and a second thread answers each notification, blocking in
 * xenevtchn_pending as QEMU's backends do. It prints the mean round trip.
 * tests/xenhost runs it in dom0 after backends/xendev's dom0 tests, so the
 * Go figure can be read against what the platform itself costs. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <xenevtchn.h>

static xenevtchn_handle *front, *back;
static evtchn_port_t front_port, back_port;
static int rounds;

static void take(xenevtchn_handle *h, const char *who)
{
	xenevtchn_port_or_error_t p = xenevtchn_pending(h);
	if (p < 0 || xenevtchn_unmask(h, p) < 0) {
		perror(who);
		exit(1);
	}
}

static void *answer(void *unused)
{
	(void)unused;
	for (int i = 0; i < rounds; i++) {
		take(back, "backend pending");
		if (xenevtchn_notify(back, back_port) < 0) {
			perror("backend notify");
			exit(1);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	rounds = argc > 1 ? atoi(argv[1]) : 100;
	front = xenevtchn_open(NULL, 0);
	back = xenevtchn_open(NULL, 0);
	if (!front || !back) {
		perror("xenevtchn_open");
		return 1;
	}
	xenevtchn_port_or_error_t p = xenevtchn_bind_unbound_port(front, 0);
	if (p < 0) {
		perror("bind unbound");
		return 1;
	}
	front_port = p;
	p = xenevtchn_bind_interdomain(back, 0, front_port);
	if (p < 0) {
		perror("bind interdomain");
		return 1;
	}
	back_port = p;
	take(back, "bind event"); /* Xen raises the new port at bind */

	pthread_t t;
	if (pthread_create(&t, NULL, answer, NULL) != 0) {
		perror("pthread_create");
		return 1;
	}
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < rounds; i++) {
		if (xenevtchn_notify(front, front_port) < 0) {
			perror("frontend notify");
			return 1;
		}
		take(front, "frontend pending");
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	pthread_join(t, NULL);
	double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
	printf("libxenevtchn round trip: %d rounds, %.0f ns/op\n", rounds, ns / rounds);
	xenevtchn_close(front);
	xenevtchn_close(back);
	return 0;
}
