#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit, property, RFC-vector and end-to-end tests
# (the end-to-end tests start the daemon on loopback and drive it with sipp).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh build-essential pkg-config sip-tester
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "== cargo build (daemon)"
cargo build --locked -p daemon
echo "== cargo test"
cargo test --locked --workspace --all-targets
