#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the browser tests (Playwright drives it; its own
# browser download does not work here). Needs root and Debian's package mirror.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
echo "==> installing Debian's chromium for the browser tests"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium chromium-driver
