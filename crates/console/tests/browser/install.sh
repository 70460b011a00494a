#!/usr/bin/env bash
# Installs what the console's browser tests (crates/console/tests/browser.rs) drive: Debian's
# Chromium and its matching chromedriver. Safe to run again; installs only what is missing.
# Without them the browser tests print SKIPPED and pass; set CONSOLE_BROWSER_REQUIRED=1 to make
# them fail instead.
set -euo pipefail
missing=()
for pkg in chromium chromium-driver; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
chromium --version
chromedriver --version
