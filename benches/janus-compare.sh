#!/usr/bin/env bash
# Side by side in one run: the livestream load (1 publisher, 3 VP8 layers + Opus → N viewers
# on the top layer) against Plenum, then against Janus VideoRoom (Debian's package), on the
# same machine; prints both servers' CPU per packet and the ratio.
# Usage: benches/janus-compare.sh            (VIEWERS=150 DURATION=30 by default; needs root)
set -euo pipefail
cd "$(dirname "$0")/.."
VIEWERS=${VIEWERS:-150}
DURATION=${DURATION:-30}
NS=plenum-janus
OUT=${OUT:-target/janus-compare}

./scripts/install-deps.sh
command -v janus >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq janus >/dev/null
cargo build --release -p plenum -p plenum-loadtest

cfg=$(mktemp -d)
for f in benches/janus/*.jcfg; do sed "s|@CONFIG_DIR@|$cfg|" "$f" > "$cfg/$(basename "$f")"; done
# A private namespace: lo for Plenum, a veth with 127.0.0.2 for Janus (which ignores loopback
# interfaces). Nothing in it can reach another machine.
ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
ip netns exec "$NS" sh -c '
  ip link set lo up
  ip link add jv0 type veth peer name jv1
  ip addr add 127.0.0.2/32 dev jv0
  ip link set jv0 up; ip link set jv1 up'
ip netns exec "$NS" janus -F "$cfg" -o > "$cfg/janus.log" 2>&1 &
JPID=$!
cleanup() { kill "$JPID" 2>/dev/null || true; wait "$JPID" 2>/dev/null || true; ip netns del "$NS" 2>/dev/null || true; rm -rf "$cfg"; }
trap cleanup EXIT
for _ in $(seq 50); do
  ip netns exec "$NS" bash -c 'exec 3<>/dev/tcp/127.0.0.1/8088' 2>/dev/null && break
  sleep 0.2
done

mkdir -p "$OUT"
ip netns exec "$NS" target/release/plenum-loadtest \
  --scenario loadtest/scenarios/livestream.toml --server target/release/plenum \
  --participants "$VIEWERS" --duration "$DURATION" \
  --janus-api 127.0.0.1:8088 --janus-pid "$JPID" \
  --json "$OUT/compare.json" --html "$OUT/plenum.html"
