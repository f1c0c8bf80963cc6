#!/bin/sh
# The cluster's certificates and the origin's token key for compose.cluster.yaml (or
# Kubernetes), in deploy/secrets/cluster/ (docs/cluster.md, "Deploying"):
#
#   deploy/cluster-certs.sh                      # origin, edge-1, edge-2
#   deploy/cluster-certs.sh edge-3               # one more node later (needs ca.key here)
#   deploy/cluster-certs.sh origin plenum-edge-0 plenum-edge-1   # the names deploy/k8s/cluster uses
#
# Writes, without touching what is already there:
#   ca.pem              the cluster CA's certificate (every node)
#   ca.key              the CA's key: makes node certificates; nodes never need it. Move it
#                       off the server once every certificate is made (mode 0600).
#   NODE.pem, NODE.key  each node's certificate and key (only that node mounts them)
#   origin-token.key    the origin's token key (32 random bytes): the origin's
#                       <data_dir>/token.key and every edge's [cluster] token_key. To keep the
#                       key of an origin that already ran (its members' tokens stay valid),
#                       copy its <data_dir>/token.key here before the first cluster start.
#
# `plenum cluster ca` / `plenum cluster cert` do the work: with PLENUM_BIN=/path/to/plenum (or
# `plenum` in PATH) directly, else in the image PLENUM_IMAGE (default localhost/plenum:latest)
# with podman or docker (ENGINE=docker to choose), with no network, the files passed in and out
# as a tar stream (no bind mount: the files belong to you, whatever the engine's user mapping).
#
# Modes: the directory 0700; node keys, certificates and the token key 0644 inside it, because
# the containers' user (uid 10001) reads them through compose's bind mounts (as the other files
# in deploy/secrets/); ca.key 0600 (no container reads it).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${PLENUM_CLUSTER_DIR:-$here/secrets/cluster}
[ "$#" -gt 0 ] || set -- origin edge-1 edge-2

for node in "$@"; do
    case "$node" in
        ''|*[!A-Za-z0-9.-]*|-*) echo "cluster-certs: bad node name '$node' (letters, digits, '-', '.')" >&2; exit 2 ;;
    esac
done

install -d -m 0700 "$here/secrets"
install -d -m 0700 "$out"

# What to run, as one shell script (in $PWD = the certificate directory).
script='set -eu
if [ ! -e ca.pem ]; then plenum cluster ca --dir .; fi
for node in '"$*"'; do
    if [ -e "$node.pem" ] && [ -e "$node.key" ]; then echo "node $node: kept"; continue; fi
    plenum cluster cert --dir . --node "$node"
done'

if [ -n "${PLENUM_BIN:-}" ] || command -v plenum >/dev/null 2>&1; then
    bin=${PLENUM_BIN:-$(command -v plenum)}
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    ln -s "$bin" "$dir/plenum"
    (cd "$out" && PATH="$dir:$PATH" sh -c "$script")
else
    engine=${ENGINE:-$(command -v podman >/dev/null 2>&1 && echo podman || echo docker)}
    image=${PLENUM_IMAGE:-localhost/plenum:latest}
    # In: the directory as it is (the CA for further certificates); out: the directory after.
    tar -C "$out" -cf - . |
        "$engine" run --rm -i --network none --no-healthcheck --entrypoint /bin/sh "$image" -c '
            set -eu; d=$(mktemp -d); cd "$d"; tar -xf - >&2
            sh -c "$1" >&2
            tar -cf - .' sh "$script" |
        tar -C "$out" --no-same-owner -xf -
fi

if [ ! -e "$out/origin-token.key" ]; then
    (umask 077; head -c 32 /dev/urandom > "$out/origin-token.key")
    echo "origin token key: $out/origin-token.key (new)"
fi

chmod 0700 "$out"
chmod 0600 "$out/ca.key"
for f in "$out"/*.pem "$out"/*.key "$out/origin-token.key"; do
    [ "$f" = "$out/ca.key" ] || chmod 0644 "$f"
done
ls -l "$out"
