#!/usr/bin/env bash
# Second command of the README (and what CI runs): install cbec with its test tools and run every test,
# including ruff and mypy (tests/unit/test_quality.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh dev
exec .venv/bin/python -m pytest -q "$@"
