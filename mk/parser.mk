# parser: the xl.cfg parser and writer (parser/), xfeat parse and xfeat fmt,
# and tests/cfgcompat (differential tests against libxlutil through cgo).

APT_PACKAGES  += libxen-dev gcc
BENCH_TARGETS += bench-parser
FUZZ_TARGETS  += ./parser:FuzzParse ./parser:FuzzEdit ./parser:FuzzFastPathEquivalence

.PHONY: bench-parser
# xfeat's parser and libxlutil's on the same inputs in the same loop (a
# typical guest config and a 1 MiB one): the xfeat-ns/op and libxlutil-ns/op
# columns split the time, xfeat-speedup is libxlutil time / xfeat time (>1:
# xfeat is faster). Then xfeat's parser alone, with allocations:
# BenchmarkParse is Parse (the fast path, for files without diagnostics),
# BenchmarkParseParticiple the participle path on the same inputs (what a
# file with an error or a warning costs).
bench-parser:
	$(GO) test -run '^$$' -bench 'ParseVsLibxlutil' -benchmem -count 1 ./tests/cfgcompat
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./parser
