#!/bin/sh
# Runs a command inside a new, private network namespace whose only interface is lo, so the
# browsers gather loopback candidates only and nothing can leave the machine.
# NETNS_DEFAULT_ROUTE_LO=1 also adds "default dev lo src 127.0.0.1" there: Firefox gathers no
# ICE candidates without a default route (firefox.test.mjs adds it itself when missing).
# usage (from the repo root): tests/e2e/netns.sh node --test tests/e2e/
exec unshare --net -- sh -c 'ip link set lo up && { [ -z "$NETNS_DEFAULT_ROUTE_LO" ] || ip route add default dev lo src 127.0.0.1; } && exec "$@"' netns "$@"
