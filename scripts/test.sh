#!/usr/bin/env bash
# Runs medic's checks and tests: formatting, clippy with warnings denied, then every test of the
# workspace (unit, end-to-end on the lab, Kyverno conformance, real Prometheus/Alertmanager chain), then
# a brief fuzzing of the webhook and Slack payload parsers and of the policy engine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

profile=default
if [ "${CI:-}" = "true" ]; then
  profile=ci
  # A clean build gains nothing from incremental compilation, which would double target/ on disk.
  export CARGO_INCREMENTAL=0
fi
df -h . | awk 'NR == 2 { print "disk: " $4 " free of " $2 }'

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --profile "$profile" --no-tests=warn

# The webhook and Slack parsers and the policy engine (policy + resource YAML, JMESPath/CEL expressions)
# under the fuzzer for a short while each: a panic fails the run. Built without sanitizers (all of medic is
# safe Rust) and unoptimised, which keeps the build short.
for target in webhooks slack_interaction policy_resource expressions; do
  MEDIC_FUZZ_FLAGS="--sanitizer none --dev" bash scripts/fuzz.sh "$target" "${MEDIC_FUZZ_SECONDS:-20}"
done
