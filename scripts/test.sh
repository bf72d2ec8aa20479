#!/usr/bin/env bash
# Second command of the README (and what CI runs): install cbec with its test tools and run every test,
# including ruff and mypy (tests/unit/test_quality.py). The store tests run on SQLite and, when a PostgreSQL
# 15 server can be had (already installed, or Debian's package installed here as root), on PostgreSQL too:
# a throwaway server is started for the run and stopped after it. Set CBEC_TEST_POSTGRES_URL to use your own.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh dev,postgres
if [ -z "${CBEC_TEST_POSTGRES_URL:-}" ] && [ "${CBEC_TEST_NO_POSTGRES:-}" != 1 ]; then
  url="$(bash scripts/postgres-for-tests.sh start || true)"
  if [ -n "$url" ]; then
    export CBEC_TEST_POSTGRES_URL="$url"
    trap 'bash scripts/postgres-for-tests.sh stop || true' EXIT
    echo "PostgreSQL tests on $url"
  fi
fi
# the console's browser tests drive Debian's chromium (installed here as root when missing; see the script)
[ "${CBEC_TEST_NO_BROWSER:-}" = 1 ] || bash scripts/browser-for-tests.sh >/dev/null || true
.venv/bin/python -m pytest -q "$@"
