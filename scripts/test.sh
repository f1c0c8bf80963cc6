#!/usr/bin/env bash
# Runs every test of Plenum: Rust unit, real-socket and protocol tests, then the browser
# end-to-end test (headless Chromium in a private network namespace).
# On a fresh Debian machine it installs what the tests need first (scripts/install-deps.sh, npm).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
# A throwaway PostgreSQL for the storage tests (PLENUM_TEST_PG_URL; stopped on exit).
source ./scripts/pg-test.sh

echo "== cargo test (unit, real-socket, protocol)"
cargo build --workspace --all-targets
cargo test --workspace
node --test web/test/  # verifiable ballots: JS side of the shared vectors (ballot-crypto/vectors)

echo "== browser end-to-end (Chromium)"
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
PLENUM_BIN="$PWD/target/debug/plenum" tests/e2e/netns.sh node --test tests/e2e/
