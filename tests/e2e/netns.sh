#!/bin/sh
# Runs a command inside a new, private network namespace whose only interface is lo, so the
# browsers gather loopback candidates only and nothing can leave the machine.
# usage (from the repo root): tests/e2e/netns.sh node --test tests/e2e/
exec unshare --net -- sh -c 'ip link set lo up && exec "$@"' netns "$@"
