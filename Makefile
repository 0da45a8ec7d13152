# Thin entry points; the work is in scripts/.
.PHONY: test demo bench lint fmt db windows wine-e2e

test:        ## build everything and run every test against an ephemeral PostgreSQL
	bash scripts/test

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

windows:     ## cross-build companion-agent.exe and companion-paper-terminal.exe (x86_64-pc-windows-gnu)
	bash scripts/windows

wine-e2e:    ## the Windows agent under Wine against the Linux server and PostgreSQL
	bash scripts/wine-e2e
