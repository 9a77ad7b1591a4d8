#!/usr/bin/env bash
# Create .venv-acro in the repository root: ACRO 1.0.2 for benchmarks/bench_acro.py.
#
#     bash benchmarks/setup_acro_env.sh
#
# ACRO 1.0.2 needs pandas < 3 and this project uses pandas 3, so ACRO gets its own venv; the
# benchmark runs benchmarks/acro_side.py with this venv's Python. It does not import fivesafes.
# Set PYTHON to choose the interpreter (default python3; ACRO 1.0.2 requires Python >= 3.10).
set -euo pipefail
cd "$(dirname "$0")/.."
"${PYTHON:-python3}" -m venv .venv-acro
.venv-acro/bin/pip install --quiet acro==1.0.2
.venv-acro/bin/python -c 'import importlib.metadata as m; print("acro", m.version("acro"), "pandas", m.version("pandas"))'
