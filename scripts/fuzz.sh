#!/usr/bin/env bash
# Builds and runs one of medic's cargo-fuzz targets (policy engine, webhook and Slack parsers) for a while:
#   scripts/fuzz.sh TARGET SECONDS        (targets: policy_resource, expressions, webhooks, slack_interaction)
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 enables them on the stable toolchain.
# MEDIC_FUZZ_FLAGS adds cargo-fuzz options, e.g. "--sanitizer none --dev" for CI's brief runs.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:?usage: scripts/fuzz.sh TARGET SECONDS}"
seconds="${2:?usage: scripts/fuzz.sh TARGET SECONDS}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
cd fuzz
mkdir -p "corpus/$target"
read -r -a flags <<< "${MEDIC_FUZZ_FLAGS:-}"
cargo fuzz run "${flags[@]}" "$target" "corpus/$target" "seeds/$target" -- -max_total_time="$seconds" -max_len=65536
