#!/usr/bin/env bash
# Installs what building and testing Switchboard needs on Debian 12, when it is missing.
# Sourced by scripts/run.sh and scripts/test.sh; safe to run again (it only installs what is absent).
set -euo pipefail

need_apt=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

for pkg in "$@"; do
    have_pkg "$pkg" || need_apt+=("$pkg")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
    echo "setup: installing ${need_apt[*]}" >&2
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! have_cmd cargo; then
    for dir in "$HOME/.cargo/bin" /usr/local/cargo/bin; do
        if [ -x "$dir/cargo" ]; then export PATH="$dir:$PATH"; fi
    done
fi
if ! have_cmd cargo; then
    echo "setup: cargo not found. Install a Rust toolchain (1.87 or newer), e.g. with rustup." >&2
    exit 1
fi
