# Network data path (backends/tap, netback's TAP path, netfront's guest
# namespaces, tests/net). The tests and `make bench-net` run ping, iperf3,
# ethtool and ip inside the guests' network namespaces.
APT_PACKAGES += iperf3 ethtool iproute2 iputils-ping
