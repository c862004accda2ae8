# Sandbox host and backends (sandbox, backends/xenbus, netback, blkback,
# frontends, `xfeat host`). The detached-host test runs Debian's xenstore-ls
# against the host's socket.
APT_PACKAGES += xenstore-utils
FUZZ_TARGETS += ./backends/xenbus:FuzzParseState
FUZZ_TARGETS += ./sandbox:FuzzHostileVif
FUZZ_TARGETS += ./sandbox:FuzzHostileVbd
