# Sandbox host and backends (sandbox, backends/xenbus, netback, blkback,
# frontends, `xfeat host`). The detached-host test runs Debian's xenstore-ls
# against the host's socket.
APT_PACKAGES += xenstore-utils
FUZZ_TARGETS += ./pv:FuzzParseState
FUZZ_TARGETS += ./sandbox:FuzzHostileVif
FUZZ_TARGETS += ./sandbox:FuzzHostileVbd

# Control-plane round trip: a vif and a vbd from the toolstack's write to
# Connected on both ends and back to Closed.
BENCH_TARGETS += bench-sandbox
.PHONY: bench-sandbox
bench-sandbox:
	$(GO) test -run '^$$' -bench ConnectTeardown -benchtime 200x ./sandbox
