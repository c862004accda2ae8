# Network data path (backends/tap, netback's TAP path, netfront's guest
# namespaces, tests/net). The tests and `make bench-net` run ping, iperf3,
# ethtool and ip inside the guests' network namespaces.
APT_PACKAGES += iperf3 ethtool iproute2 iputils-ping
BENCH_TARGETS += bench-net

.PHONY: bench-net
# bench-net: in one run, iperf3 TCP between two sandbox guests through both
# netbacks and a bridge, the same between two namespaces joined by a veth
# pair (kernel only) and their ratio (tcp-ratio, target >= 0.8); 64-byte UDP
# packets per second both ways (pps-ratio). Needs root. Then the backend's
# per-packet cost and allocations (0 allocs/op) without the TAP syscalls.
bench-net: build
	$(GO) test -run '^$$' -bench GuestToGuestVsVeth -benchtime 1x ./tests/net
	$(GO) test -run '^$$' -bench . -benchmem ./backends/netback
FUZZ_TARGETS += ./backends/tap:FuzzFindL4
