#!/bin/sh
# `plenum` in the container (/usr/local/bin/plenum, also the entrypoint): secrets from files,
# then the real binary /usr/libexec/plenum/plenum with the same arguments (as PID 1 for the
# server: it stops cleanly on SIGTERM).
#
# For each of Plenum's secret settings, NAME_FILE=/path sets NAME to the file's content
# (Docker/Podman/compose secrets, Kubernetes Secret volumes), e.g.
#   PLENUM_METRICS__TOKEN_FILE=/run/secrets/metrics_token
# The *_FILE variable is removed before Plenum starts: Plenum rejects unknown keys.
set -eu
for name in PLENUM_METRICS__TOKEN PLENUM_TURN__SECRET PLENUM_DATABASE__URL PLENUM_MAIL__URL; do
    eval "file=\${${name}_FILE:-}"
    if [ -n "$file" ]; then
        if [ ! -r "$file" ]; then
            echo "plenum (container): ${name}_FILE: cannot read $file" >&2
            exit 1
        fi
        value=$(cat "$file")
        export "$name=$value"
        unset "${name}_FILE"
    fi
done
# [cluster] origin is an IP address and port, but in compose and Kubernetes the origin has a
# name (a Service's DNS name, whose ClusterIP stays as long as the Service). So a name in
# PLENUM_CLUSTER__ORIGIN=NAME:PORT is resolved here, once, at the start (IPv4). Unresolvable:
# the server stops (its restart policy tries again); other commands run without the setting.
origin=${PLENUM_CLUSTER__ORIGIN:-}
host=${origin%:*}
case "$host" in
    "$origin"|*[!0-9.]*) is_name=yes ;;
    *) is_name=no ;;
esac
case "$host" in "$origin"|\[*) is_name=no ;; esac
if [ -n "$origin" ] && [ "$is_name" = yes ]; then
    addr=$(getent ahostsv4 "$host" | { read -r a _ && echo "$a"; } || true)
    if [ -n "$addr" ]; then
        export PLENUM_CLUSTER__ORIGIN="$addr:${origin##*:}"
        echo "plenum (container): cluster origin $host is $addr" >&2
    elif [ "${1:-serve}" = serve ]; then
        echo "plenum (container): cannot resolve the cluster origin $host" >&2
        exit 1
    else
        unset PLENUM_CLUSTER__ORIGIN
    fi
fi
exec /usr/libexec/plenum/plenum "$@"
