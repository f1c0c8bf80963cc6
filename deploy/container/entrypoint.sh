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
exec /usr/libexec/plenum/plenum "$@"
