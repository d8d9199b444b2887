#!/usr/bin/env bash
# vm-bench.sh - VM backup end to end against casulo-sim, side by side with the
# local-file pipeline and restic, in one run (issue 5's targets).
#
# Usage: bench/vm-bench.sh BENCH_ROOT
#   BENCH_ROOT  folder holding day1.img (bench/make-images.sh)
# Env: CASULO_BIN      (default <repo>/build/release/src/cli/casulo)
#      CASULO_SIM_BIN  (default <repo>/build/release/src/sim/casulo-sim)
#      BLOCKS          64 KiB blocks the guest writes between the runs
#                      (default 786: 1.2 % of a 4 GiB disk)
#      IDLE_WAIT       seconds to wait for a quiet CPU before each step (120)
#
# Steps, each timed with a dropped page cache (bench/lib.sh's `timed`):
#   image-full    casulo backup image day1.img            (the local-file pipeline)
#   vm-full       casulo backup vm  (day1.img as the VM's disk in casulo-sim: NBD, allocated blocks)
#   vm-incr       the same after the guest wrote BLOCKS blocks (CBT + NBD)
#   vm-restore    casulo restore vm of the incremental point as a new VM (/import_raw_vdi)
#   restic-full   restic backup day1.img                  (for reference)
#   restic-restore restic restore of it
# Both restores are compared with cmp. Results in BENCH_ROOT/vm-bench-out/:
# results.csv, summary.md, env.txt, logs/ (earlier results move to old-*/).
set -euo pipefail

BENCH_DIR=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")
readonly BENCH_DIR
# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"

CASULO_BIN=${CASULO_BIN:-$(realpath -m -- "$BENCH_DIR/../build/release/src/cli/casulo")}
SIM_BIN=${CASULO_SIM_BIN:-$(realpath -m -- "$BENCH_DIR/../build/release/src/sim/casulo-sim")}
readonly BLOCKS=${BLOCKS:-786}
readonly CSV_HEADER=tool,run,step,status,wall_s,user_s,sys_s,max_rss_kb,repo_bytes,restored_alloc_bytes,verify,busy_before_pct,others_cpu_s
OUT='' SIM_PID=''

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 2; }

stop_sim() { [[ -n $SIM_PID ]] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null; SIM_PID=''; }

# vdi_file STATE VM_NAME : the file behind the VM's disk 0 in the simulator.
vdi_file() {
  python3 - "$1" "$2" <<'PY'
import json, os, sys
o = json.load(open(os.path.join(sys.argv[1], "db.json")))["objects"]
vm = next(v for v in o["VM"].values() if v["name_label"] == sys.argv[2] and not v["is_a_snapshot"])
vbd = next(o["VBD"][b] for b in vm["VBDs"] if o["VBD"][b]["userdevice"] == "0")
print(os.path.join(sys.argv[1], "vdi", o["VDI"][vbd["VDI"]]["uuid"] + ".img"))
PY
}

bench_casulo() {
  local dir="$OUT/casulo" day1=$1 state url
  rm -rf -- "$dir"; mkdir -p -- "$dir"
  export CASULO_CONFIG_DIR=$dir/config CASULO_CACHE_DIR=$dir/cache
  state=$dir/sim
  "$SIM_BIN" --state "$state" --listen 127.0.0.1:0 --demo >"$OUT/logs/sim.out" 2>"$OUT/logs/sim.err" &
  SIM_PID=$!
  for _ in $(seq 600); do grep -q listening "$OUT/logs/sim.out" 2>/dev/null && break; sleep 0.1; done
  url=http://$(sed -n 's/.*listening on //p' "$OUT/logs/sim.out")
  (umask 077 && printf 'casulo\n' >"$dir/pool-password")
  log "putting $day1 into casulo-sim as VM bench-vm (XML-RPC + PUT /import_raw_vdi)"
  python3 "$BENCH_DIR/vm_pool.py" "$url" "$dir/pool-password" "$day1" bench-vm >"$OUT/logs/vm_pool.out"
  "$CASULO_BIN" pool add bench "$url" --user root --password-file "$dir/pool-password" >"$OUT/logs/pool-add.log"
  "$CASULO_BIN" init -r "$dir/repo-image" >/dev/null
  "$CASULO_BIN" init -r "$dir/repo-vm" >/dev/null

  timed casulo 1 image-full "$CASULO_BIN" backup image "$day1" -r "$dir/repo-image" --json
  record casulo 1 image-full ok "$TIMES" "$(du -sb -- "$dir/repo-image" | cut -f1)"
  timed casulo 1 vm-full "$CASULO_BIN" backup vm bench bench-vm -r "$dir/repo-vm" --json
  cp -- "$STEP_OUT" "$OUT/vm-full.json"
  record casulo 1 vm-full ok "$TIMES" "$(du -sb -- "$dir/repo-vm" | cut -f1)"

  log "the guest writes $BLOCKS blocks of 64 KiB"
  "$SIM_BIN" write --state "$state" bench-vm --blocks "$BLOCKS" --seed 7 >"$OUT/logs/write.log"
  timed casulo 1 vm-incr "$CASULO_BIN" backup vm bench bench-vm -r "$dir/repo-vm" --json
  cp -- "$STEP_OUT" "$OUT/vm-incr.json"
  record casulo 1 vm-incr ok "$TIMES" "$(du -sb -- "$dir/repo-vm" | cut -f1)"

  local point source restored verdict sr
  sr=$(cut -d' ' -f3 "$OUT/logs/vm_pool.out")
  point=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["snapshot"])' "$OUT/vm-incr.json")
  timed casulo 1 vm-restore "$CASULO_BIN" restore vm "$point" --pool bench --name bench-restored --sr "$sr" -r "$dir/repo-vm"
  source=$(vdi_file "$state" bench-vm); restored=$(vdi_file "$state" bench-restored)
  if cmp -s -- "$source" "$restored"; then verdict=identical; else verdict=MISMATCH; fi
  record casulo 1 vm-restore ok "$TIMES" "" "$(du -B1 -- "$restored" | cut -f1)" "$verdict"
  log "  restored disk $verdict to the VM's disk"
  stop_sim
  rm -rf -- "$state"
  [[ $verdict == identical ]]
}

bench_restic() {
  local dir="$OUT/restic" day1=$1 verdict file
  rm -rf -- "$dir"; mkdir -p -- "$dir"
  export RESTIC_CACHE_DIR=$dir/cache
  restic -q init --repository-version 2 -r "$dir/repo" >"$OUT/logs/restic-init.log" 2>&1
  timed restic 1 restic-full restic -r "$dir/repo" backup --compression auto "$day1"
  record restic 1 restic-full ok "$TIMES" "$(du -sb -- "$dir/repo" | cut -f1)"
  timed restic 1 restic-restore restic -r "$dir/repo" restore latest --target "$dir/restore"
  file=$dir/restore$day1
  if cmp -s -- "$day1" "$file"; then verdict=identical; else verdict=MISMATCH; fi
  record restic 1 restic-restore ok "$TIMES" "" "$(du -B1 -- "$file" | cut -f1)" "$verdict"
  rm -rf -- "$dir/restore"
  [[ $verdict == identical ]]
}

main() {
  (($# == 1)) || usage
  ((EUID == 0)) || die "must run as root (drops the page cache)"
  local root day1
  root=$(realpath -- "$1"); day1=$root/day1.img
  [[ -s $day1 ]] || die "$day1 missing: run bench/make-images.sh $root first"
  for b in "$CASULO_BIN" "$SIM_BIN"; do [[ -x $b ]] || die "$b not built"; done
  ensure_packages restic time python3 diffutils
  OUT=$root/vm-bench-out
  mkdir -p -- "$OUT"
  if [[ -e $OUT/results.csv ]]; then
    local old; old="$OUT/old-$(date -r "$OUT/results.csv" +%Y%m%d-%H%M%S)"
    mkdir -p -- "$old"; mv -- "$OUT"/{results.csv,summary.md,env.txt,logs,vm-*.json} "$old/" 2>/dev/null || true
  fi
  mkdir -p -- "$OUT/logs"
  echo "$CSV_HEADER" >"$OUT/results.csv"
  local pw="$OUT/password"
  [[ -s $pw ]] || (umask 077 && head -c 24 /dev/urandom | base64 >"$pw")
  export CASULO_PASSWORD_FILE=$pw RESTIC_PASSWORD_FILE=$pw
  { date -Is; grep -m1 'model name' /proc/cpuinfo; echo "cpus: $(nproc)"; restic version
    echo "casulo: $CASULO_BIN $(stat -c '%y' -- "$CASULO_BIN")"
    echo "git: $(git -C "$BENCH_DIR/.." rev-parse --short HEAD 2>/dev/null || echo none)"
    echo "loadavg at start: $(cat /proc/loadavg)"; } >"$OUT/env.txt" 2>&1
  trap stop_sim EXIT

  local failed=0
  set +e
  (set -e; bench_casulo "$day1") || failed=1
  (set -e; bench_restic "$day1") || failed=1
  set -e
  python3 "$BENCH_DIR/vm_summary.py" "$OUT" "$day1" "$BLOCKS" >"$OUT/summary.md"
  cat -- "$OUT/summary.md"
  return "$failed"
}

main "$@"
