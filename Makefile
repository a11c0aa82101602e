# Shortcuts; the scripts are the source of truth.
.PHONY: setup test demo lab fmt clippy bench

setup:
	bash scripts/setup.sh
test:
	bash scripts/test.sh
demo:
	bash scripts/demo.sh
lab:
	cargo run --release -p medic -- lab up
fmt:
	cargo fmt --all
clippy:
	cargo clippy --workspace --all-targets -- -D warnings
