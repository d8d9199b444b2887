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
