# parser/devspec: vif and disk specs, feature requests, domain keys;
# commands xfeat spec and xfeat validate; examples/.

FUZZ_TARGETS += ./parser/devspec:FuzzParseDisk ./parser/devspec:FuzzParseVif ./parser/devspec:FuzzFeatures
DEMO_TARGETS += demo-parse

.PHONY: demo-parse
# demo-parse walks through examples/: parse, validate and fmt each file, then
# parse single specs from the command line. guest-mistakes.cfg is meant to
# fail validation: its problems are shown, and the walk goes on.
demo-parse: build
	@set -e; for f in examples/*.cfg; do \
		echo "== xfeat parse $$f"; \
		$(BIN) parse $$f || true; \
		echo "== xfeat validate $$f"; \
		if $(BIN) validate $$f; then echo "(valid)"; else echo "(exit $$?: rejected, as intended for $$f)"; fi; \
		echo "== xfeat fmt -d $$f"; \
		$(BIN) fmt -d $$f || true; \
	done
	@echo "== xfeat validate -o json examples/guest-mistakes.cfg (first problem)"
	@$(BIN) validate -o json examples/guest-mistakes.cfg | head -10 || true
	@echo "== xfeat spec disk '/srv/guest.img,raw,xvda,rw,queues=4,max-ring-page-order=2'"
	@$(BIN) spec disk '/srv/guest.img,raw,xvda,rw,queues=4,max-ring-page-order=2'
	@echo "== xfeat spec vif 'bridge=xenbr0,rate=10Mb/s@20ms,features=queues:2\;csum:off'"
	@$(BIN) spec vif 'bridge=xenbr0,rate=10Mb/s@20ms,features=queues:2\;csum:off'
	@echo "== xfeat spec vif 'bridge=xenbr0,queus=2' (rejected: exit 1)"
	@$(BIN) spec vif 'bridge=xenbr0,queus=2' || echo "(exit $$?)"
