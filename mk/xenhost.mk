# The real Xen host (tests/internal/xenhost, tests/xenhost): Xen 4.17 with a
# Debian PV dom0 under qemu-system-x86_64 (TCG), C xenstored, xl, Linux
# netback/blkback, Linux PV guests. `make test-xen` boots it once and runs
# every real-host test (build tag xenhost); `make xen-shell` gives a shell in
# dom0; `make xen-run SCENARIO=file.sh` runs one scenario script there.
# backends/xendev's dom0 tests (build tag xenhost_dom0) run there too, with
# a C reference built against libxenevtchn (libxen-dev, gcc).
APT_PACKAGES += qemu-system-x86 xen-hypervisor-4.17-amd64 linux-image-amd64 busybox-static ethtool xen-utils-4.17 xenstore-utils libxen-dev gcc
# TestLibvirtConverterAgrees runs libvirt's own xen-xl converter in dom0: libvirtd
# with its libxl driver (virsh is in libvirt-clients, convert.mk).
APT_PACKAGES += libvirt-daemon libvirt-daemon-driver-xen

.PHONY: test-xen xen-shell xen-run
# One boot and every test: about 8 minutes on an idle 2-CPU machine (boot
# about 20 s). The stage's budget is 15 minutes, and the timeout holds it.
XENHOST_TIMEOUT ?= 15m

test-xen: build
	$(GO) vet -tags xenhost ./tests/xenhost/
	$(GO) vet -tags xenhost_dom0 ./backends/xendev/
	$(GO) test -tags xenhost -count=1 -timeout $(XENHOST_TIMEOUT) -v ./tests/xenhost/

xen-shell: build
	$(GO) run ./tests/xenhost/cmd/xenhost -xfeat $(BIN) shell

xen-run: build
	@test -n "$(SCENARIO)" || { echo "usage: make xen-run SCENARIO=path/to/scenario.sh"; exit 2; }
	$(GO) run ./tests/xenhost/cmd/xenhost -xfeat $(BIN) run $(SCENARIO)
