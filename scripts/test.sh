#!/usr/bin/env bash
# Install everything, then run every check: lint, format, types and the whole test suite.
# Slow scale tests are marked `slow` and left out; run them with `bash scripts/test.sh -m slow`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash scripts/services.sh
bash scripts/browser.sh
bash scripts/imaging.sh
bash scripts/faketime.sh
# ACRO itself (its own venv: it needs pandas < 3), so the tests that compare the checker with
# ACRO run rather than skip
if [ ! -x .venv-acro/bin/python ]; then
  echo "==> ACRO 1.0.2 for the differential tests (PyPI, .venv-acro)"
  bash benchmarks/setup_acro_env.sh
fi

echo "==> ruff (lint)"
.venv/bin/ruff check src tests benchmarks
echo "==> ruff (format)"
.venv/bin/ruff format --check src tests benchmarks
echo "==> mypy"
.venv/bin/mypy
echo "==> import contracts (import-linter: the layers of docs/architecture.md)"
.venv/bin/lint-imports
echo "==> pytest"
markers=(-m "not slow")
for arg in "$@"; do
  [ "$arg" = "-m" ] && markers=()
done
set +e
.venv/bin/python -m pytest "${markers[@]}" -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure, not a pass." >&2
  exit 1
fi
exit "$status"
