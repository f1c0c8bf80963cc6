#!/usr/bin/env bash
# Installs what building and testing Plenum needs on Debian, if missing (needs root):
# cmake (libopus for the load tester), Chromium and Firefox ESR (browser tests), unshare and
# ip (private network namespaces for tests), nft (the deploy ruleset is loaded into one), Node.js and npm (the browser test drivers),
# poppler-utils (pdftotext and pdftoppm read the minutes' PDF back in tests), PostgreSQL (the
# storage tests run against a throwaway cluster as well: scripts/pg-test.sh).
set -euo pipefail
need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v firefox-esr >/dev/null 2>&1 || need+=(firefox-esr)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && command -v psql >/dev/null 2>&1 || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: please install as root: apt-get install ${need[*]}" >&2
  exit 1
fi
echo "install-deps.sh: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
