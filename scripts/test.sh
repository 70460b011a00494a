#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit, property, RFC-vector and end-to-end tests
# (the end-to-end tests start the daemon on loopback and drive it with sipp; the console's
# browser tests drive Debian's headless Chromium through chromedriver).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh build-essential pkg-config cmake sip-tester chromium chromium-driver
# The browser tests skip only when Chromium is absent; here it was installed, so they must run.
export CONSOLE_BROWSER_REQUIRED=1
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "== cargo build (daemon)"
cargo build --locked -p daemon
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --locked --workspace --all-targets 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run, summed over every test binary.
passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s += $1} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s += $1} END {print s + 0}')
echo "tests: $passed passed, $failed failed"
exit "$status"
