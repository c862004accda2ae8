# Toolstack (package toolstack; xfeat create, show, list, destroy, features;
# examples/guest.cfg; tests/e2e). The e2e tests run Debian's xenstore-read,
# xenstore-write and xenstore-ls as the guest.
APT_PACKAGES  += xenstore-utils
BENCH_TARGETS += bench-toolstack
FUZZ_TARGETS  += ./schema:FuzzParseRecord
DEMO_TARGETS  += demo-sandbox

.PHONY: demo-sandbox bench-toolstack

# demo-sandbox: start the sandbox host in a temporary rundir, create
# examples/guest.cfg (two vifs, two disks, one request clamped; its disk
# images are made under /tmp/xfeat-demo), show each device, destroy the
# guest, stop the host. XENSTORED_PATH points every command at the host, as
# it would point libxenstore's tools.
demo-sandbox: build
	@set -e; rundir=$$(mktemp -d /tmp/xfeat-demo-run.XXXXXX); \
	trap '$(BIN) host stop --rundir '$$rundir' >/dev/null 2>&1 || true; rm -rf '$$rundir' /tmp/xfeat-demo' EXIT; \
	mkdir -p /tmp/xfeat-demo; \
	truncate -s 64M /tmp/xfeat-demo/root.img; truncate -s 16M /tmp/xfeat-demo/data.img; \
	echo "== xfeat host start --rundir $$rundir"; $(BIN) host start --rundir $$rundir; \
	export XENSTORED_PATH=$$rundir/socket; \
	echo "== xfeat features vif   (NAME TYPE DEFAULT MIN MAX VALUES DESCRIPTION)"; $(BIN) features vif; \
	echo "== xfeat features disk"; $(BIN) features disk; \
	echo "== xfeat create --dry-run examples/guest.cfg (config-* nodes only)"; \
	$(BIN) create --dry-run examples/guest.cfg 2>/dev/null | grep config-; \
	echo "== xfeat create examples/guest.cfg   (DOMID NAME DEVICE BACKEND FRONTEND)"; \
	$(BIN) create examples/guest.cfg; \
	echo "== xfeat list"; $(BIN) list; \
	for dev in "vif guest/0" "vif guest/1" "disk guest/xvda" "disk guest/xvdb"; do \
		echo "== xfeat show $$dev   (FEATURE REQUESTED ADVERTISED EFFECTIVE NEGOTIATED VERDICT)"; \
		$(BIN) show $$dev; \
	done; \
	echo "== xfeat show vif guest/1 -o json"; $(BIN) show vif guest/1 -o json; \
	echo "== as the guest: xenstore-read a config-* node (denied)"; \
	XENSTORED_PATH=$$rundir/domains/1/socket xenstore-read /local/domain/0/backend/vif/1/1/config-multi-queue-max-queues || echo "(exit $$?: denied, as intended)"; \
	echo "== xfeat create examples/guest-mistakes.cfg (rejected: exit 1, nothing written)"; \
	$(BIN) create examples/guest-mistakes.cfg || echo "(exit $$?)"; \
	echo "== xfeat destroy guest"; $(BIN) destroy guest; \
	echo "== xfeat list"; $(BIN) list; \
	echo "== xfeat host stop"; $(BIN) host stop --rundir $$rundir

# bench-toolstack: time from `xfeat create` (a new process) to every device
# of examples/guest.cfg (2 vifs, 2 disks) Connected, and the same through
# the toolstack package in process (p50/p95/max reported; target <= 100 ms);
# then 1000 small guests created one by one by a shell script, listed and
# destroyed.
bench-toolstack: build
	$(GO) test -run '^$$' -bench 'BenchmarkCreate(CLI|InProcess)' -benchtime 50x ./tests/e2e
	tests/e2e/bench_guests.sh $(BIN) 1000
