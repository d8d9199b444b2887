#!/usr/bin/env bash
# Runs Xen Orchestra's XenAPI client (xo_client.mjs) against a fresh
# casulo-sim --demo on a free loopback port, then stops the simulator.
#   run.sh CASULO_SIM_BIN STEPS
set -euo pipefail
SIM=$1
STEPS=$2
HERE=$(cd "$(dirname "$0")" && pwd)
[ -d "$HERE/node_modules/xen-api" ] || { echo "run.sh: npm packages missing; run scripts/test.sh (npm ci)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/casulo-conformance.XXXXXX)
SIM_PID=
cleanup() { [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
"$SIM" --state "$WORK/state" --listen 127.0.0.1:0 --demo > "$WORK/sim.out" 2>&1 &
SIM_PID=$!
for _ in $(seq 600); do  # up to 60 s: the demo pool makes ext4 disks, slow on a loaded machine
  PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/sim.out")
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "${PORT:-}" ] || { echo "run.sh: casulo-sim did not start:" >&2; cat "$WORK/sim.out" >&2; exit 1; }
printf 'casulo' > "$WORK/password"   # the --demo pool's root password (docs/design/simulator.md)
chmod 600 "$WORK/password"
cd "$HERE"
timeout 120 node xo_client.mjs "http://127.0.0.1:$PORT" root "$WORK/password" "$STEPS"
