#!/usr/bin/env bash
# First command of the README: install cbec and run the main job on the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
exec .venv/bin/cbec demo "$@"
