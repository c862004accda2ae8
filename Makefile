# xfeat build. `make demo` and `make test` do all set-up on a fresh Debian
# machine (as root: missing packages are installed with apt-get).
#
# Each area adds to the lists below from its own fragment in mk/*.mk, so that
# work on one area does not touch this file:
#   APT_PACKAGES  Debian packages needed to build and test
#   BENCH_TARGETS targets `make bench` runs, in order
#   FUZZ_TARGETS  package:FuzzName pairs `make fuzz` runs for FUZZTIME each

GO       ?= go
FUZZTIME ?= 15s
BIN      := bin/xfeat

APT_PACKAGES  := libxen-dev xenstore-utils xen-utils-4.17 gcc
BENCH_TARGETS :=
FUZZ_TARGETS  :=
DEMO_TARGETS  :=

include $(sort $(wildcard mk/*.mk))

.PHONY: all deps build vet test bench fuzz man demo clean

all: build

deps:
	@scripts/deps.sh $(APT_PACKAGES)
	@$(GO) mod download

build: deps
	$(GO) build -o $(BIN) ./cmd/xfeat

vet: deps
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

# internal/testrun prints what plain go test would and ends with one line
# saying which tests were skipped and why (none may be under CI=true).
test: build vet
	$(GO) run ./internal/testrun -go $(GO) -timeout 14m ./...

bench: build $(BENCH_TARGETS)

fuzz: deps
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

man: deps
	$(GO) run ./cmd/xfeat/internal/genman man

demo: build $(DEMO_TARGETS)

clean:
	rm -rf bin
