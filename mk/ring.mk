# backends/ring, backends/grant, backends/evtchn: Xen's shared rings, grant
# tables and event channels as the sandbox host provides them.
# `make bench-ring`: Go ring round trip vs the same loop in C with Xen's
# ring.h (Go/C ratios), event-channel batching, grant map/copy cost.
BENCH_TARGETS += bench-ring
RING_BENCH_ROUNDS ?= 5

.PHONY: bench-ring
bench-ring: deps
	@GO=$(GO) sh backends/ring/testdata/bench-compare.sh bin $(RING_BENCH_ROUNDS)

FUZZ_TARGETS += ./backends/ring:FuzzBackHostile
FUZZ_TARGETS += ./backends/grant:FuzzCopy
