#!/usr/bin/env bash
# Install everything, then run the demo federation (a hub and three synthetic hospitals).
# Extra arguments go to `fivesafes demo`, e.g. `bash scripts/demo.sh --once --workdir demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/fivesafes demo "$@"
