#!/usr/bin/env bash
# Make sure Debian's libfaketime is installed: the pool's expiry test runs a real pool process
# whose clock is a month ahead (LD_PRELOAD), so that its data expires without waiting a month.
# Needs root and Debian's package mirror.
set -euo pipefail
if [ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ] || \
   compgen -G "/usr/lib/*/faketime/libfaketimeMT.so.1" >/dev/null; then
  exit 0
fi
echo "==> installing Debian's faketime for the pool's expiry test"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q faketime
