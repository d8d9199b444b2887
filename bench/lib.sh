# shellcheck shell=bash
# lib.sh - helpers shared by the bench scripts (sourced, not run).

log() { printf '[%s %(%H:%M:%S)T] %s\n' "${0##*/}" -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ensure_packages PKG... : apt-get install only the missing Debian packages,
# so a fresh machine gets everything and a re-run never touches apt.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# --- timing, shared by run.sh and vm-bench.sh -------------------------------
# Callers set OUT (the output folder, with logs/ and results.csv) and get back
# TIMES, STEP_OUT, OTHERS and BUSY from timed / wait_for_quiet.
IDLE_WAIT=${IDLE_WAIT:-120}
TIMES='' STEP_OUT='' OTHERS='' BUSY=''

# record TOOL RUN STEP STATUS TIMES [REPO_BYTES] [ALLOC_BYTES] [VERIFY]
record() {
  echo "$1,$2,$3,$4,$5,${6:-},${7:-},${8:-},$BUSY,$OTHERS" >>"$OUT/results.csv"
}

# cpu_ticks : "total busy" clock ticks of all CPUs so far (iowait counts as
# idle: sync and writeback are not a competing job).
cpu_ticks() {
  awk '/^cpu / { t = $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; print t, t - $5 - $6 }' /proc/stat
}

# cpu_busy_pct : % of all CPU time spent non-idle over the next 2 s.
cpu_busy_pct() {
  local before after
  before=$(cpu_ticks); sleep 2; after=$(cpu_ticks)
  awk -v a="$before" -v b="$after" 'BEGIN {
    split(a, x, " "); split(b, y, " "); t = y[1] - x[1]
    printf "%d", (t > 0 ? 100 * (y[2] - x[2]) / t : 0) }'
}

# wait_for_quiet : on a shared 2-core box a concurrent compile doubles wall
# times, so wait (up to IDLE_WAIT s) until others use < 10 % of the CPU.
# The last reading goes into the CSV either way.
wait_for_quiet() {
  local start=$SECONDS
  BUSY=$(cpu_busy_pct)
  ((BUSY < 10)) && return 0
  log "  others use $BUSY % of the CPU; waiting up to $IDLE_WAIT s"
  while ((BUSY >= 10 && SECONDS - start < IDLE_WAIT)); do BUSY=$(cpu_busy_pct); done
  log "  waited $((SECONDS - start)) s; others now at $BUSY %"
}

# timed TOOL RUN STEP CMD... : run one measured step. Caches are dropped first
# so every tool reads the image from disk, not from what the previous tool
# left in memory. stdout/stderr/time report are kept in logs/.
timed() {
  local tool=$1 run=$2 step=$3; shift 3
  local base="$OUT/logs/$tool-r$run-$step"
  log "$tool run $run: $step"
  wait_for_quiet
  sync
  echo 3 >/proc/sys/vm/drop_caches
  local ticks_before; ticks_before=$(cpu_ticks)
  OTHERS=''
  if ! /usr/bin/time -v -o "$base.time" "$@" >"$base.out" 2>"$base.err"; then
    record "$tool" "$run" "$step" FAILED ",,,"
    log "FAILED: $tool $step: $* (see $base.err)"
    tail -n 5 -- "$base.err" >&2
    return 1
  fi
  STEP_OUT=$base.out
  # "Elapsed (wall clock) time (h:mm:ss or m:ss): 1:02.34" -> seconds
  TIMES=$(awk -F': ' '
    /Elapsed \(wall clock\)/ { n = split($2, p, ":"); for (i = 1; i <= n; i++) w = w * 60 + p[i] }
    /User time/ { u = $2 } /System time/ { s = $2 } /Maximum resident set size/ { r = $2 }
    END { printf "%.2f,%.2f,%.2f,%d", w, u, s, r }' "$base.time")
  # Busy CPU time of the whole machine during the step minus the tool's own
  # user+sys: what other processes took (kernel writeback included).
  OTHERS=$(awk -v a="$ticks_before" -v b="$(cpu_ticks)" -v t="$TIMES" -v hz="$(getconf CLK_TCK)" 'BEGIN {
    split(a, x, " "); split(b, y, " "); split(t, m, ",")
    o = (y[2] - x[2]) / hz - m[2] - m[3]; printf "%.1f", (o > 0 ? o : 0) }')
  log "  wall,user,sys,maxrss_kb = $TIMES; other processes used $OTHERS CPU-s"
}

json_field() { # json_field FIELD FILE : one top-level field of a JSON object
  python3 -c 'import json, sys; print(json.load(open(sys.argv[2]))[sys.argv[1]])' "$1" "$2"
}

