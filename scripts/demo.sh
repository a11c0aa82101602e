#!/usr/bin/env bash
# Builds medic and runs the demo: the simulated cluster, broken by Chaos Mesh experiments, repaired by medic.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo run --release --locked -p medic -- demo "$@"
