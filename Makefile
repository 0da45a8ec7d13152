# Thin entry points; the work is in scripts/.
.PHONY: test mql5-check screenshots demo bench lint fmt db chaos chaos-short fuzz fuzz-long windows wine-e2e release installer-e2e release-e2e

test:        ## build everything and run every test against an ephemeral PostgreSQL
	bash scripts/test

mql5-check:  ## static check of the bridge EA with clang (+ its self-test); part of make test
	bash scripts/mql5-check
	bash scripts/mql5-check --self-test

screenshots: ## the app's real-webview e2e, saving its screenshots into docs/screenshots/ (commit them)
	SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots bash scripts/e2e-app

demo:        ## the whole flow on a paper terminal
	bash scripts/demo

bench:       ## benchmarks; rewrites docs/benchmarks.md
	bash scripts/bench

lint:        ## rustfmt + clippy, as CI runs them
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

db:          ## start an ephemeral PostgreSQL and print its DATABASE_URL
	bash scripts/dev-db start

chaos:       ## 1,000 signals under random faults, then the exactly-once audit; then the same with two server replicas
	bash scripts/chaos
	bash scripts/chaos --replicas 2

chaos-short: ## the short chaos runs, one and two server replicas (part of make test)
	bash scripts/chaos --short
	bash scripts/chaos --short --replicas 2

fuzz:        ## API fuzzing (schemathesis, short) + parser fuzzing (proptest, short)
	bash scripts/fuzz-api
	cargo test -q -p companion-chaos --test fuzz_webhook_parse --test fuzz_bridge_decoder

fuzz-long:   ## long API and parser fuzzing
	bash scripts/fuzz-api --long
	FUZZ_CASES=$${FUZZ_CASES:-200000} cargo test -q --release -p companion-chaos --test fuzz_webhook_parse --test fuzz_bridge_decoder

windows:     ## cross-build companion-agent.exe and companion-paper-terminal.exe (x86_64-pc-windows-gnu)
	bash scripts/windows

wine-e2e:    ## the Windows agent under Wine against the Linux server and PostgreSQL
	bash scripts/wine-e2e

release:     ## cut a release: make release VERSION=x.y.z (build, sign, publish to RELEASES_DIR; docs/release.md)
	VERSION=$(VERSION) bash scripts/release

installer-e2e: ## the Windows installer (NSIS, stub payload) installed, updated and uninstalled under Wine
	bash scripts/installer-e2e

release-e2e: ## the Linux app: .deb N installed, updated to N+1 by itself (tampered download refused), restarted
	bash scripts/release-e2e
