# Block data path (blkback/blkfront): fio for the comparison in bench-blkdata.
APT_PACKAGES += fio
BENCH_TARGETS += bench-blkdata
FUZZ_TARGETS += ./backends/blkback:FuzzHandle

# bench-blkdata: xfeat io against fio on the same tmpfs image (4 KiB
# randread at iodepth 32, 1 MiB sequential read), the IOPS each blkif
# feature buys, and the backend's per-request cost with -benchmem.
bench-blkdata: build
	$(GO) test -run '^$$' -bench BenchmarkHandle -benchmem ./backends/blkback
	XFEAT=$(CURDIR)/$(BIN) tests/blk/bench.sh
