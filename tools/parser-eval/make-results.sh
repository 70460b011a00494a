#!/usr/bin/env bash
# Rebuild RESULTS.md: hand-written analysis (results-head.md) + the generated report.
# Usage: ./make-results.sh [--features ours]
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/targets/vectors}"
cargo build --release -q "$@"
{
  cat results-head.md
  echo
  echo "---"
  echo
  echo "# Generated report"
  echo
  "$CARGO_TARGET_DIR/release/parser-eval" --bench 100000
} > RESULTS.md
