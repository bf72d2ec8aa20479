#!/usr/bin/env bash
# Start a throwaway PostgreSQL 15 server for the test suite and print its URL (for CBEC_TEST_POSTGRES_URL).
# Installs Debian's postgresql-15 when it is missing and we are root; prints nothing (exit 0) when no server
# can be had, so the suite still runs on SQLite alone. Usage: url=$(bash scripts/postgres-for-tests.sh start)
#                                                            bash scripts/postgres-for-tests.sh stop
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA="$ROOT/var/pg-test"
PORT="${CBEC_TEST_POSTGRES_PORT:-54329}"

find_bin() {
  for dir in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  return 1
}

as_owner() {  # initdb and the server refuse to run as root
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  BIN="$(find_bin || true)"
  if [ -z "$BIN" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing postgresql-15 (Debian package) for the tests" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15) >&2 || true
    BIN="$(find_bin || true)"
  fi
  if [ -z "$BIN" ]; then
    echo "PostgreSQL not available: its tests will be skipped" >&2
    return 0
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "no postgres user to run the server as: PostgreSQL tests will be skipped" >&2
    return 0
  fi
  stop >/dev/null 2>&1 || true
  rm -rf "$DATA"
  mkdir -p "$DATA"
  [ "$(id -u)" = 0 ] && chown postgres "$DATA"
  as_owner "$BIN/initdb" -D "$DATA" -U cbec --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  as_owner "$BIN/pg_ctl" -D "$DATA" -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1 -c fsync=off" \
    -l "$DATA/server.log" -w start >/dev/null
  as_owner "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U cbec cbec_test
  echo "postgresql+psycopg://cbec@127.0.0.1:$PORT/cbec_test"
}

stop() {
  BIN="$(find_bin)"
  [ -d "$DATA" ] && as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
