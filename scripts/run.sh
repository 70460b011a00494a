#!/usr/bin/env bash
# Builds Switchboard (release) and runs it on the example config, in the foreground.
# Usage: scripts/run.sh [CONFIG]      (default: config/switchboard.toml)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh build-essential pkg-config cmake
config="${1:-config/switchboard.toml}"
cargo build --release --locked -p daemon
exec target/release/switchboard run --config "$config"
