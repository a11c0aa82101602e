#!/usr/bin/env bash
# Runs medic's checks and tests: formatting, clippy with warnings denied, then every test of the
# workspace (unit, end-to-end on the lab, Kyverno conformance, real Prometheus/Alertmanager chain).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

profile=default
[ "${CI:-}" = "true" ] && profile=ci

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --profile "$profile" --no-tests=warn
