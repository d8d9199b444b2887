#!/usr/bin/env bash
# The main job at this stage (issues 2-3): make a small realistic disk image,
# back it up into a fresh local repository, change 1 % of it, back it up
# again with a changed-block bitmap, restore, verify byte for byte, turn the
# restored disk into a VHD and an XVA and back, print stats.
# Everything lives in a scratch directory that is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
CASULO=${CASULO_BIN:-$PWD/${CASULO_BUILD_DIR:-build/release}/src/cli/casulo}
[ -x "$CASULO" ] || { echo "demo: $CASULO not built (run scripts/setup.sh)" >&2; exit 1; }

WORK=$(mktemp -d /var/tmp/casulo-demo.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export CASULO_REPO=$WORK/repo CASULO_CACHE_DIR=$WORK/cache
export CASULO_PASSWORD_FILE=$WORK/password
head -c 32 /dev/urandom | base64 > "$CASULO_PASSWORD_FILE"   # a throwaway secret, never on argv
chmod 600 "$CASULO_PASSWORD_FILE"

step() { printf '\n== %s\n' "$*"; }

step "making a 256 MiB disk image with an ext4 filesystem and real files"
IMG=$WORK/disk.img
truncate -s 256M "$IMG"
mkdir -p "$WORK/tree"
cp -r /usr/share/doc "$WORK/tree/doc" 2>/dev/null || true
cp -r /usr/share/perl "$WORK/tree/perl" 2>/dev/null || true
head -c 8M /dev/urandom > "$WORK/tree/random.bin"
mkfs.ext4 -q -F -d "$WORK/tree" "$IMG"
echo "image: $(du -h --apparent-size "$IMG" | cut -f1) apparent, $(du -h "$IMG" | cut -f1) allocated"

step "casulo init"
"$CASULO" init

step "day 1: full backup"
"$CASULO" backup image "$IMG" --tag demo
SNAP1=$("$CASULO" snapshots --json | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' | tail -1)

step "the guest writes: 1 % of the 64 KiB blocks change, and we keep a CBT-style bitmap"
BLOCKS=$(( $(stat -c %s "$IMG") / 65536 ))
CHANGED=$(( BLOCKS / 100 ))
cp --sparse=always "$IMG" "$WORK/day2.img"
perl -e '
  my ($img, $cbt, $blocks, $n) = @ARGV;
  srand(42);
  open(my $f, "+<", $img) or die "open $img: $!";
  my %seen; my $bitmap = "\0" x int(($blocks + 7) / 8);
  while (keys %seen < $n) {
    my $b = int(rand($blocks)); next if $seen{$b}++;
    seek($f, $b * 65536, 0); print $f pack("C*", map { int(rand(256)) } 1..65536);
    vec($bitmap, $b, 1) = 0; substr($bitmap, int($b / 8), 1) |= chr(0x80 >> ($b % 8));
  }
  close $f;
  open(my $c, ">", $cbt) or die; binmode $c; print $c $bitmap; close $c;
' "$WORK/day2.img" "$WORK/day2.cbt" "$BLOCKS" "$CHANGED"
echo "$CHANGED of $BLOCKS blocks changed"

step "day 2: incremental backup, reading only the changed blocks"
"$CASULO" backup image "$WORK/day2.img" --parent "$SNAP1" --changed-blocks "$WORK/day2.cbt" --tag demo

step "snapshots"
"$CASULO" snapshots

step "restore day 2 and verify"
"$CASULO" restore image latest "$WORK/restored.img"
cmp "$WORK/day2.img" "$WORK/restored.img"
echo "restored image is byte-identical to day 2 ($(du -h "$WORK/restored.img" | cut -f1) allocated: holes kept)"
"$CASULO" restore image "$SNAP1" "$WORK/restored1.img"
cmp "$IMG" "$WORK/restored1.img"
echo "day 1 restores byte-identical too"

step "the restored disk as XenServer takes it: a VHD for import_raw_vdi, an XVA for xe vm-import"
"$CASULO" convert "$WORK/restored.img" "$WORK/disk.vhd" --to vhd
"$CASULO" inspect "$WORK/disk.vhd"
"$CASULO" convert "$WORK/disk.vhd" "$WORK/vm.xva" --to xva --vm-name demo-vm --compress zstd
"$CASULO" inspect "$WORK/vm.xva"
"$CASULO" convert "$WORK/vm.xva" - --to raw | cmp - "$WORK/day2.img"
echo "XVA -> raw is byte-identical to day 2"

step "check --read-data"
"$CASULO" check --read-data

step "stats"
"$CASULO" stats
echo
echo "demo: OK"
