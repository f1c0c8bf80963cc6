# Sourced by scripts/test.sh (bash): starts a throwaway PostgreSQL cluster for the tests and
# exports PLENUM_TEST_PG_URL; the cluster listens only on a Unix socket in its own temporary
# directory (no TCP port, so several runs on one machine do not collide) and is stopped and
# removed when the sourcing shell exits. The storage conformance suite and the PostgreSQL
# real-socket tests (tests/postgres_ws.rs) create one database each in it and drop it after.
# PLENUM_TEST_PG_REQUIRED=1 makes those tests fail instead of skip without a cluster.
#
# Needs Debian's `postgresql` package (scripts/install-deps.sh). PostgreSQL refuses to run as
# root: as root the cluster runs as the `postgres` user (runuser).
#
# Standalone: `source scripts/pg-test.sh` in an interactive bash starts it the same way.

pg_test_bin="$( (ls -d /usr/lib/postgresql/*/bin 2>/dev/null || true) | sort -V | tail -n 1)"
if [ -z "$pg_test_bin" ] || [ ! -x "$pg_test_bin/pg_ctl" ]; then
  echo "pg-test.sh: PostgreSQL is not installed (scripts/install-deps.sh installs it)" >&2
  return 1 2>/dev/null || exit 1
fi

pg_test_as() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_test_stop() {
  if [ -n "${PG_TEST_DIR:-}" ] && [ -d "$PG_TEST_DIR" ]; then
    pg_test_as "$pg_test_bin/pg_ctl" -D "$PG_TEST_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_TEST_DIR"
  fi
}

PG_TEST_DIR="$(mktemp -d /tmp/plenum-pg.XXXXXX)"
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$PG_TEST_DIR"
fi
chmod 0700 "$PG_TEST_DIR"
trap pg_test_stop EXIT

# Trust on the socket only: it lies in a directory only its owner (and root) can enter.
pg_test_as "$pg_test_bin/initdb" -D "$PG_TEST_DIR/data" -U postgres -A trust \
  --encoding=UTF8 --locale=C.UTF-8 >"$PG_TEST_DIR/initdb.log" 2>&1 || {
  cat "$PG_TEST_DIR/initdb.log" >&2
  return 1 2>/dev/null || exit 1
}
# fsync stays on: the durability tests mean what they say. Tests create and drop many
# databases: no checkpoint warnings for that.
pg_test_as "$pg_test_bin/pg_ctl" -D "$PG_TEST_DIR/data" -l "$PG_TEST_DIR/server.log" -w \
  -o "-c listen_addresses='' -c unix_socket_directories='$PG_TEST_DIR' -c max_connections=200 -c checkpoint_warning=0" \
  start >/dev/null || {
  cat "$PG_TEST_DIR/server.log" >&2
  return 1 2>/dev/null || exit 1
}

export PLENUM_TEST_PG_URL="postgresql://postgres@/postgres?host=$PG_TEST_DIR"
export PLENUM_TEST_PG_REQUIRED=1
echo "== PostgreSQL $("$pg_test_bin/postgres" --version | awk '{print $3}') for the tests: $PG_TEST_DIR"
