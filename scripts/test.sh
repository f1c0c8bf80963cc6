#!/usr/bin/env bash
# Runs every test of Plenum: Rust unit, real-socket and protocol tests, then the browser
# end-to-end test (headless Chromium in a private network namespace).
# On a fresh Debian machine it installs what the tests need first (as root, via apt/npm).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v unshare >/dev/null 2>&1 || need_apt+=(util-linux)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: please install: ${need_apt[*]}" >&2
    exit 1
  fi
  echo "test.sh: installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

echo "== cargo test (unit, real-socket, protocol)"
cargo build --workspace --all-targets
cargo test --workspace

echo "== browser end-to-end (Chromium)"
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
PLENUM_BIN="$PWD/target/debug/plenum" tests/e2e/netns.sh node --test tests/e2e/
