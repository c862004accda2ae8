# Documentation: README.md, docs/, man/ (generated pages and xfeat-requests(5)),
# their generation (cmd/xfeat/root/man.go) and tests/docs. The tests render
# every page with man(1) to check what a reader sees.
APT_PACKAGES += man-db groff-base
# systemd-analyze checks contrib/systemd/xfeat-backend.service.
APT_PACKAGES += systemd
