#!/usr/bin/env bash
# The VM part of the main job (issue 5): casulo-sim plays a
# 3-host pool (ext4 guest disks, a 40 GiB sparse Windows disk, CBT and NBD
# through nbdkit); every VM is backed up, a guest writes, the VMs are backed
# up again (CBT + NBD: only the written blocks are read), every disk of the
# changed VM is restored and compared byte for byte with the VDI, the VM is
# restored under a new name into another SR and its disks compared with the
# source's, the pool is checked for leftovers, and the simulator is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=$PWD/${CASULO_BUILD_DIR:-build/release}
CASULO=${CASULO_BIN:-$BUILD/src/cli/casulo}
SIM=${CASULO_SIM_BIN:-$BUILD/src/sim/casulo-sim}
for b in "$CASULO" "$SIM"; do [ -x "$b" ] || { echo "demo: $b not built (run scripts/setup.sh)" >&2; exit 1; }; done

WORK=$(mktemp -d /var/tmp/casulo-vm-demo.XXXXXX)
SIM_PID=
cleanup() {
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
export CASULO_REPO=$WORK/repo CASULO_CACHE_DIR=$WORK/cache CASULO_CONFIG_DIR=$WORK/config
export CASULO_PASSWORD_FILE=$WORK/password
head -c 32 /dev/urandom | base64 > "$CASULO_PASSWORD_FILE"
chmod 600 "$CASULO_PASSWORD_FILE"
step() { printf '\n== %s\n' "$*"; }

step "starting casulo-sim with its demo pool (3 hosts on 127.0.0.1-3, NFS + local SRs, 4 VMs)"
"$SIM" --state "$WORK/sim" --listen 127.0.0.1:0 --demo > "$WORK/sim.out" 2> "$WORK/sim.err" &
SIM_PID=$!
# Up to 60 s: the demo pool makes ext4 disks, slow on a loaded machine.
for _ in $(seq 600); do grep -q listening "$WORK/sim.out" 2>/dev/null && break; sleep 0.1; done
URL=http://$(sed -n 's/.*listening on //p' "$WORK/sim.out")
echo "pool master at $URL"
printf 'casulo\n' > "$WORK/pool-password"; chmod 600 "$WORK/pool-password"

step "casulo pool add / pool show"
"$CASULO" pool add demo "$URL" --user root --password-file "$WORK/pool-password"
"$CASULO" pool show demo | head -20

step "casulo init"
"$CASULO" init >/dev/null && echo "repository at $CASULO_REPO"

step "day 1: back up every VM (first run: allocated blocks over NBD)"
"$CASULO" backup vm demo --all

step "the guests write: 24 blocks of 64 KiB on each disk of debian-web"
"$SIM" write --state "$WORK/sim" debian-web --blocks 24

step "day 2: back up every VM again (CBT + NBD: only changed blocks)"
"$CASULO" backup vm demo --all
"$CASULO" snapshots

step "restore every disk of debian-web and compare with the VDIs"
POINT=$("$CASULO" snapshots --json | python3 -c '
import json,sys
pts=[p for p in json.load(sys.stdin) if p.get("labels",{}).get("vm_name")=="debian-web"]
print(sorted(pts,key=lambda p:p["time"])[-1]["id"])')
for KEY in $("$CASULO" snapshots --json | python3 -c "
import json,sys
for p in json.load(sys.stdin):
    if p['id']=='$POINT':
        print(' '.join(d['key'] for d in p['disks']))"); do
  "$CASULO" restore disk "$POINT" "$KEY" --to "$WORK/$KEY.img"
  cmp "$WORK/$KEY.img" "$WORK/sim/vdi/$KEY.img" && echo "disk $KEY: identical to the VDI"
done

step "restore debian-web as a new VM, debian-web-restored, into another SR"
SR=$(python3 - "$WORK/sim/db.json" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))["objects"]
vm = next(v for v in o["VM"].values() if v["name_label"] == "debian-web" and not v["is_a_snapshot"])
used = {o["VDI"][o["VBD"][b]["VDI"]]["SR"] for b in vm["VBDs"] if o["VBD"][b]["VDI"] in o["VDI"]}
# another shared SR holding user disks, not the one the VM lives on
for ref, sr in o["SR"].items():
    if ref not in used and sr["content_type"] != "iso" and sr["shared"]:
        print(sr["name_label"]); break
PY
)
"$CASULO" restore vm "$POINT" --pool demo --sr "$SR" --name debian-web-restored
python3 - "$WORK/sim" <<'PY'
import filecmp, json, os, sys
state = sys.argv[1]
o = json.load(open(os.path.join(state, "db.json")))["objects"]
def disks(name):
    vm = next(v for v in o["VM"].values() if v["name_label"] == name and not v["is_a_snapshot"])
    out = {}
    for b in vm["VBDs"]:
        vbd = o["VBD"][b]
        if vbd["type"] == "Disk" and vbd["VDI"] in o["VDI"]:
            vdi = o["VDI"][vbd["VDI"]]
            out[vbd["userdevice"]] = (vdi["uuid"], o["SR"][vdi["SR"]]["name_label"])
    return out
src, dst = disks("debian-web"), disks("debian-web-restored")
assert src.keys() == dst.keys(), f"disk positions differ: {sorted(src)} vs {sorted(dst)}"
for dev in sorted(src):
    a = os.path.join(state, "vdi", src[dev][0] + ".img")
    b = os.path.join(state, "vdi", dst[dev][0] + ".img")
    same = filecmp.cmp(a, b, shallow=False)
    print(f"disk {dev}: {dst[dev][0]} on {dst[dev][1]}: {'identical to' if same else 'DIFFERS from'} the source")
    if not same: sys.exit(1)
PY

step "the pool keeps nothing of ours but one cbt_metadata base per disk"
python3 - "$WORK/sim/db.json" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))["objects"]
snaps = [v for v in o["VM"].values() if v["is_a_snapshot"]]
bases = [v for v in o["VDI"].values() if v["type"] == "cbt_metadata"]
stray = [v for v in o["VDI"].values() if v["is_a_snapshot"] and v["type"] != "cbt_metadata"]
blocked = [v["name_label"] for v in o["VM"].values() if "pool_migrate" in v.get("blocked_operations", {})]
print(f"snapshot VMs: {len(snaps)}, stray snapshot VDIs: {len(stray)}, CBT bases: {len(bases)}, "
      f"tasks: {len(o.get('task', {}))}, VMs still blocked: {len(blocked)}")
sys.exit(1 if snaps or stray or blocked or o.get('task') else 0)
PY

step "casulo check --read-data"
"$CASULO" check --read-data
echo
echo "VM demo finished: the simulator is stopped and $WORK removed."
