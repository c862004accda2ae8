# XenStore: xswire (the wire format), xsclient (client library), xenstored (embedded daemon),
# tests/xenstore (Debian's xenstore-utils and Xen's test-xenstore against it).

APT_PACKAGES  += xenstore-utils xen-utils-4.17
BENCH_TARGETS += bench-xenstore
FUZZ_TARGETS  += ./xswire:FuzzReadMessage ./xenstored:FuzzRequest

.PHONY: bench-xenstore
# Request/response rate against a bare unix-socket echo server measured in the
# same run (the "ratio" column: median echo time / median daemon time over
# interleaved blocks; 1.0 = no overhead, target >= 0.8), pipelined throughput
# of 64 clients, the time to write 1000 guests with 4 devices each, and the
# client library's cost per call (alone and shared by many goroutines).
bench-xenstore:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./xenstored ./xsclient
