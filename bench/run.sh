#!/usr/bin/env bash
# run.sh - casulo, restic and borg side by side on the same VM-disk images.
#
# Usage: bench/run.sh [--peers-only] [--tools LIST] BENCH_ROOT [RUNS]
#   BENCH_ROOT  folder holding day1.img, day2.img, day2.cbt (bench/make-images.sh)
#   RUNS        repetitions of every step, each on a fresh repository (default 1);
#               the summary reports medians
#   --tools     comma-separated subset of casulo,restic,borg (default: all three)
#   --peers-only  same as --tools restic,borg
# Env: CASULO_BIN  (default <repo>/build/release/src/cli/casulo)
#      IDLE_WAIT   seconds to wait, before each step, for other processes to
#                  stop using the CPU (default 120; 0 = do not wait)
#
# Per tool and run: init a fresh repository under BENCH_ROOT/bench-out/<tool>/,
# full backup of day1, incremental backup of day2, restore of day2 checked with
# cmp. Every timed step starts with a dropped page cache and runs under
# /usr/bin/time -v. Results: bench-out/results.csv, bench-out/summary.md,
# bench-out/env.txt, bench-out/logs/ (earlier results move to bench-out/old-*/).
set -euo pipefail

BENCH_DIR=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")
readonly BENCH_DIR
# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"

CASULO_BIN=${CASULO_BIN:-$(realpath -m -- "$BENCH_DIR/../build/release/src/cli/casulo")}
readonly CSV_HEADER=tool,run,step,status,wall_s,user_s,sys_s,max_rss_kb,repo_bytes,restored_alloc_bytes,verify,busy_before_pct,others_cpu_s

# Set by main: image paths, output folder (lib.sh's timed writes under OUT).
DAY1='' DAY2='' CBT='' OUT=''

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 2; }

repo_bytes() { du -sb -- "$1" | cut -f1; }   # apparent bytes, as restic/borg report

# verify_restore TOOL RUN FILE : cmp against day2 and record the restore row;
# the restored file (up to 4 GiB allocated) is deleted afterwards.
verify_restore() {
  local tool=$1 run=$2 file=$3 verdict alloc
  alloc=$(du -B1 -- "$file" | cut -f1)
  if cmp -s -- "$DAY2" "$file"; then verdict=identical; else verdict=MISMATCH; fi
  record "$tool" "$run" restore2 ok "$TIMES" "" "$alloc" "$verdict"
  log "  restore $verdict, $alloc bytes allocated"
  rm -f -- "$file"
  [[ $verdict == identical ]]
}

# fresh_dir DIR : a new, empty working folder for one tool's run.
fresh_dir() { rm -rf -- "$1"; mkdir -p -- "$1"; }

bench_casulo() {
  local run=$1 dir="$OUT/casulo"
  local repo="$dir/repo" repo_nocbt="$dir/repo-nocbt" restored="$dir/restore/day2.img" snap1 snap2
  fresh_dir "$dir"; mkdir -p -- "$dir/restore"
  export XDG_CACHE_HOME="$dir/cache"
  "$CASULO_BIN" init -r "$repo" >"$OUT/logs/casulo-r$run-init.log" 2>&1

  timed casulo "$run" backup1 "$CASULO_BIN" backup image "$DAY1" -r "$repo" --json
  snap1=$(json_field snapshot "$STEP_OUT")
  record casulo "$run" backup1 ok "$TIMES" "$(repo_bytes "$repo")"
  # Both incrementals must start from the same day-1 state: copy it (untimed).
  cp -a -- "$repo" "$repo_nocbt"

  timed casulo "$run" backup2 "$CASULO_BIN" backup image "$DAY2" -r "$repo" \
    --parent "$snap1" --changed-blocks "$CBT" --json
  snap2=$(json_field snapshot "$STEP_OUT")
  record casulo "$run" backup2 ok "$TIMES" "$(repo_bytes "$repo")"

  timed casulo "$run" backup2-nocbt "$CASULO_BIN" backup image "$DAY2" -r "$repo_nocbt" \
    --parent "$snap1" --json
  record casulo "$run" backup2-nocbt ok "$TIMES" "$(repo_bytes "$repo_nocbt")"

  timed casulo "$run" restore2 "$CASULO_BIN" restore image "$snap2" "$restored" -r "$repo"
  verify_restore casulo "$run" "$restored"
}

# restic and borg, as in the shared reference (peer-bench.md B7), so the
# numbers are comparable with it.
bench_restic() {
  local run=$1 dir="$OUT/restic"
  local repo="$dir/repo" target="$dir/restore"
  fresh_dir "$dir"
  export RESTIC_CACHE_DIR="$dir/cache"
  restic -q init --repository-version 2 -r "$repo" >"$OUT/logs/restic-r$run-init.log" 2>&1

  timed restic "$run" backup1 restic -r "$repo" backup --compression auto --tag day1 "$DAY1"
  record restic "$run" backup1 ok "$TIMES" "$(repo_bytes "$repo")"
  timed restic "$run" backup2 restic -r "$repo" backup --compression auto --tag day2 "$DAY2"
  record restic "$run" backup2 ok "$TIMES" "$(repo_bytes "$repo")"
  timed restic "$run" restore2 restic -r "$repo" restore latest --tag day2 --target "$target"
  verify_restore restic "$run" "$target$DAY2"   # restic recreates the absolute path
}

bench_borg() {
  local run=$1 dir="$OUT/borg"
  local repo="$dir/repo" target="$dir/restore"
  fresh_dir "$dir"; mkdir -p -- "$target"
  export BORG_BASE_DIR="$dir/home"   # borg keeps cache and security data here
  borg init -e repokey "$repo" >"$OUT/logs/borg-r$run-init.log" 2>&1

  timed borg "$run" backup1 borg create --compression zstd,3 "$repo::day1" "$DAY1"
  record borg "$run" backup1 ok "$TIMES" "$(repo_bytes "$repo")"
  timed borg "$run" backup2 borg create --compression zstd,3 "$repo::day2" "$DAY2"
  record borg "$run" backup2 ok "$TIMES" "$(repo_bytes "$repo")"
  # borg extracts into the current directory
  timed borg "$run" restore2 env -C "$target" borg extract --sparse "$repo::day2"
  verify_restore borg "$run" "$target$DAY2"
}

# Throwaway secrets live in a 0600 file, never on a command line (ps would show it).
setup_secrets() {
  local pw="$OUT/password"
  [[ -s $pw ]] || (umask 077 && head -c 24 /dev/urandom | base64 >"$pw")
  export RESTIC_PASSWORD_FILE=$pw CASULO_PASSWORD_FILE=$pw
  export BORG_PASSCOMMAND="cat $pw"
  unset RESTIC_PASSWORD BORG_PASSPHRASE
}

# Keep earlier results instead of mixing them with this run's rows.
archive_previous() {
  [[ -e $OUT/results.csv ]] || return 0
  local old; old="$OUT/old-$(date -r "$OUT/results.csv" +%Y%m%d-%H%M%S)"
  mkdir -p -- "$old"
  local f
  for f in results.csv summary.md env.txt logs; do
    [[ -e $OUT/$f ]] && mv -- "$OUT/$f" "$old/"
  done
  log "previous results moved to $old"
}

write_env() {
  {
    date -Is; uname -srm
    grep -m1 'model name' /proc/cpuinfo; echo "cpus: $(nproc)"
    echo "cpu flags of interest: $(grep -m1 -o -w -E 'sha_ni|aes|avx2|avx512f|vaes' /proc/cpuinfo | tr '\n' ' ')"
    restic version; borg --version
    echo "casulo: $CASULO_BIN"
    [[ -x $CASULO_BIN ]] && echo "casulo binary: $(stat -c '%y %s bytes' -- "$CASULO_BIN")"
    echo "git: $(git -C "$BENCH_DIR/.." rev-parse --short HEAD 2>/dev/null || echo none)"
    echo "images: $(stat -c '%n %s bytes' -- "$DAY1" "$DAY2" | tr '\n' ' ')"
    df -h -- "$OUT" | tail -n 1
    echo "loadavg at start: $(cat /proc/loadavg)"
  } >"$OUT/env.txt" 2>&1
  # Other work on the box (a compiler, say) skews every figure; say so up front.
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
    log "warning: 1-minute load average is $load; timings will be noisy"
  fi
}

main() {
  local tools=casulo,restic,borg
  while (($#)); do
    case $1 in
      --peers-only) tools=restic,borg; shift ;;
      --tools) tools=${2:?--tools needs a list}; shift 2 ;;
      -h | --help) usage ;;
      -*) die "unknown option $1" ;;
      *) break ;;
    esac
  done
  (($# >= 1 && $# <= 2)) || usage
  local root runs=${2:-1}
  root=$(realpath -- "$1")
  [[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
  ((EUID == 0)) || die "must run as root (drops the page cache)"
  DAY1=$root/day1.img DAY2=$root/day2.img CBT=$root/day2.cbt OUT=$root/bench-out
  local f
  for f in "$DAY1" "$DAY2" "$CBT"; do
    [[ -s $f ]] || die "$f missing: run bench/make-images.sh $root first"
  done

  IFS=, read -r -a tools <<<"$tools"
  if [[ " ${tools[*]} " == *" casulo "* && ! -x $CASULO_BIN ]]; then
    log "*** casulo binary not found at $CASULO_BIN (build it or set CASULO_BIN)."
    log "*** Running the peers only."
    tools=("${tools[@]/casulo/}")
  fi

  ensure_packages restic borgbackup time python3 diffutils coreutils
  mkdir -p -- "$OUT"
  archive_previous
  mkdir -p -- "$OUT/logs"
  echo "$CSV_HEADER" >"$OUT/results.csv"
  setup_secrets
  write_env

  # Tools alternate inside each run so slow drift (thermal, host load) spreads
  # over all of them. A failing tool is reported and the others still run: the
  # subshell turns errexit back on and its status is read from $? (inside
  # `if`/`||` bash would silently ignore errexit in the whole subshell).
  local run tool rc failed=0
  for ((run = 1; run <= runs; run++)); do
    for tool in "${tools[@]}"; do
      [[ -n $tool ]] || continue
      set +e
      (set -e; "bench_$tool" "$run")
      rc=$?
      set -e
      ((rc == 0)) || { log "$tool run $run did not complete (status $rc)"; failed=1; }
    done
  done

  python3 "$BENCH_DIR/summarize.py" "$OUT" "$DAY1" "$CBT" >"$OUT/summary.md"
  cat -- "$OUT/summary.md"
  log "results: $OUT/results.csv  $OUT/summary.md  (logs in $OUT/logs)"
  return "$failed"
}

main "$@"
