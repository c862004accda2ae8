# Network data path (backends/tap, netback's TAP path, netfront's guest
# namespaces, tests/net). The tests and `make bench-net` run ping, iperf3,
# ethtool and ip inside the guests' network namespaces.
APT_PACKAGES += iperf3 ethtool iproute2 iputils-ping util-linux
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

DEMO_TARGETS += demo-net
.PHONY: demo-net
# demo-net (root): a sandbox host with the network data path, two guests on
# bridge xfdemo0 (created by the host, removed when it stops) at 198.18.0.1
# and 198.18.0.2; ping, ethtool and iperf3 run as the first guest, in its
# namespace xfeat-netdemo-a; `xfeat show` gives the negotiation.
demo-net: build
	@if [ "$$(id -u)" != 0 ]; then echo "demo-net: needs root (TAP devices, bridges, namespaces); skipped"; exit 0; fi; \
	set -e; rundir=$$(mktemp -d /tmp/xfeat-netdemo.XXXXXX); \
	trap 'set +e; $(BIN) destroy netdemo-a >/dev/null 2>&1; $(BIN) destroy netdemo-b >/dev/null 2>&1; $(BIN) host stop --rundir '$$rundir' >/dev/null 2>&1 || true; rm -rf '$$rundir'' EXIT; \
	export XENSTORED_PATH=$$rundir/socket; \
	printf 'name = "netdemo-a"\nvif = [ "bridge=xfdemo0,mac=00:16:3e:d0:00:01,ip=198.18.0.1/24,queues=2,tso4=off" ]\n' > $$rundir/a.cfg; \
	printf 'name = "netdemo-b"\nvif = [ "bridge=xfdemo0,mac=00:16:3e:d0:00:02,ip=198.18.0.2/24,queues=2" ]\n' > $$rundir/b.cfg; \
	echo "== xfeat host start --net-data --rundir $$rundir"; $(BIN) host start --net-data --rundir $$rundir; \
	echo "== xfeat create (two guests)"; $(BIN) create $$rundir/a.cfg; $(BIN) create $$rundir/b.cfg; \
	sleep 0.5; \
	echo "== ip netns exec xfeat-netdemo-a ip addr show eth0"; ip netns exec xfeat-netdemo-a ip addr show eth0; \
	echo "== ip netns exec xfeat-netdemo-a ping -c 3 198.18.0.2"; ip netns exec xfeat-netdemo-a ping -c 3 -i 0.2 198.18.0.2; \
	echo "== ip netns exec xfeat-netdemo-a ethtool -k eth0 (tso4=off was asked)"; ip netns exec xfeat-netdemo-a ethtool -k eth0 | grep -E 'tx-checksum-ip-generic|tcp-segmentation|tx-tcp6?-segmentation'; \
	echo "== ip netns exec xfeat-netdemo-a ethtool -l eth0"; ip netns exec xfeat-netdemo-a ethtool -l eth0 | tail -5; \
	echo "== iperf3 netdemo-a -> netdemo-b (2 s; no TSO for IPv4 on a: 1500-byte packets)"; \
	ip netns exec xfeat-netdemo-b iperf3 -s -1 -B 198.18.0.2 >/dev/null 2>&1 & sleep 0.5; \
	ip netns exec xfeat-netdemo-a iperf3 -c 198.18.0.2 -t 2 | tail -4; wait; \
	echo "== xfeat show vif netdemo-a/0"; $(BIN) show vif netdemo-a/0; \
	echo "== xfeat destroy; xfeat host stop (bridge, TAPs and namespaces go)"; \
	$(BIN) destroy netdemo-a; $(BIN) destroy netdemo-b; $(BIN) host stop --rundir $$rundir; \
	ip netns list | grep netdemo || echo "(no netdemo namespace left)"; ip link show xfdemo0 2>/dev/null || echo "(no xfdemo0 bridge left)"
FUZZ_TARGETS += ./backends/netback:FuzzTxRequests
