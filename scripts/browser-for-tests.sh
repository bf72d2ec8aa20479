#!/usr/bin/env bash
# Make Debian's chromium available for the console's end-to-end tests (Playwright drives it; we never run
# `playwright install`, which would download a browser). Installs the `chromium` package with apt-get when
# /usr/bin/chromium is missing and we are root. Prints the browser's path, or nothing (exit 0) when none can be
# had: the e2e tests then fail unless CBEC_TEST_NO_BROWSER=1 says skipping them is intended.
# Usage: bash scripts/browser-for-tests.sh
set -euo pipefail
BROWSER="${CBEC_TEST_CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$BROWSER" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium (Debian package) for the console tests" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-noto-cjk) >&2 || true
fi
if [ -x "$BROWSER" ]; then
  echo "$BROWSER"
else
  echo "chromium not available: the console's browser tests need it (CBEC_TEST_NO_BROWSER=1 skips them)" >&2
fi
