#!/usr/bin/env bash
# make-images.sh - build the benchmark's test images (idempotent).
#
# Usage: bench/make-images.sh BENCH_ROOT
#
# Produces, under BENCH_ROOT (each step is skipped when its output is already
# newer than its inputs; outputs are built under *.partial and renamed, so an
# interrupted run never leaves a half-built file that looks finished):
#   rootfs/     debootstrap'ed Debian bookworm (minbase + kernel, sshd, gcc, ...)
#   day1.img    4 GiB sparse raw disk: ext4 (no partition table) filled from rootfs
#   day2.img    day1 after a "day" of guest churn + 640 scattered 64 KiB writes
#   day2.cbt    changed-block bitmap of day2 vs day1, XenServer CBT shape:
#               1 bit per 64 KiB block, block i = bit (0x80 >> i%8) of byte i/8
#
# Needs root (debootstrap, loop mount) and network access to deb.debian.org.
set -euo pipefail

readonly BLOCK=65536                  # CBT granularity of XenServer (64 KiB)
readonly IMAGE_SIZE=4G
readonly FS_UUID=5d1c0a7e-2b3f-4c8d-9e61-0a4b7c3d2e10   # fixed: same fs identity on every machine
readonly CHURN_BLOCKS=640             # 40 MiB of block-level writes
readonly CHURN_SEED=42
readonly DEBIAN_INCLUDE=linux-image-amd64,systemd-sysv,python3,openssh-server,locales,gcc,perl,ca-certificates,man-db

BENCH_DIR=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")
readonly BENCH_DIR
# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"

# fresh OUT INPUT... : true when OUT exists and is not older than any INPUT.
fresh() {
  local out=$1; shift
  [[ -e $out ]] || return 1
  local in
  for in in "$@"; do [[ $in -nt $out ]] && return 1; done
  return 0
}

# keystream SEED BYTES : deterministic pseudo-random bytes. AES-256-CTR over
# zeros with a key derived from SEED is a fast, seedable PRNG available
# everywhere openssl is; it makes the churn reproducible. (day1 itself still
# varies slightly between machines: mirror state, mkfs timestamps.)
keystream() {
  local key; key=$(printf 'casulo-bench-%s' "$1" | sha256sum | cut -c1-64)
  head -c "$2" /dev/zero | openssl enc -aes-256-ctr -nosalt -K "$key" -iv 00000000000000000000000000000000
}

# The marker sits beside the tree, not in it: mkfs -d copies everything inside.
build_rootfs() {
  local rootfs=$1
  if [[ -e $rootfs.done && -d $rootfs ]]; then log "rootfs: present, skipped"; return; fi
  local t0=$SECONDS
  rm -rf -- "$rootfs.partial"    # debootstrap cannot resume a half-done target
  log "rootfs: debootstrap bookworm (downloads ~250 MB)"
  debootstrap --variant=minbase --include="$DEBIAN_INCLUDE" bookworm "$rootfs.partial"
  rm -f -- "$rootfs.partial"/var/cache/apt/archives/*.deb   # not part of a real guest disk
  rm -rf -- "$rootfs"
  mv -- "$rootfs.partial" "$rootfs"
  touch -- "$rootfs.done"
  log "rootfs: done in $((SECONDS - t0)) s ($(du -sh "$rootfs" | cut -f1))"
}

build_day1() {
  local rootfs=$1 img=$2
  if fresh "$img" "$rootfs.done"; then log "day1.img: present, skipped"; return; fi
  local t0=$SECONDS
  rm -f -- "$img.partial"
  truncate -s "$IMAGE_SIZE" "$img.partial"
  mkfs.ext4 -q -F -L vmroot -E root_owner=0:0 -U "$FS_UUID" -d "$rootfs" "$img.partial"
  mv -- "$img.partial" "$img"
  log "day1.img: done in $((SECONDS - t0)) s ($(du -B1 "$img" | cut -f1) bytes allocated)"
}

# Guest-level churn of one day, done through the file system so the block
# pattern is what a real guest produces (journal, inode tables, bitmaps...).
churn_files() {
  local mnt=$1
  # ~4 MiB appended to an existing log file
  perl -e 'srand(7); open(my $f, ">>", $ARGV[0]) or die $!;
    my $n = 0; my $i = 0;
    while ($n < 4 << 20) {
      my $l = sprintf("2024-05-02 03:%02d:%02d status installed app-%d:amd64 1.%d.%d request took %.2f ms\n",
                      $i / 60 % 60, $i % 60, int(rand(500)), int(rand(20)), $i, rand(50));
      print $f $l; $n += length $l; $i++;
    }' "$mnt/var/log/dpkg.log"
  # first line of every 40th copyright file rewritten (real files only, not via symlinked dirs)
  perl -e 'my @f = grep { !-l $_ && !-l ($_ =~ s{/copyright$}{}r) } sort glob("$ARGV[0]/usr/share/doc/*/copyright");
    for (my $i = 0; $i < @f; $i += 40) {
      open(my $h, "+<", $f[$i]) or die "$f[$i]: $!"; local $/; my $t = <$h>;
      $t =~ s/\A[^\n]*/# locally modified on day 2/; seek($h, 0, 0); print $h $t; truncate($h, tell($h)); close $h;
    }' "$mnt"
  # a new "package": 4 MiB incompressible + 2 MiB of text
  mkdir -p "$mnt/opt/newpkg"
  keystream blob $((4 << 20)) > "$mnt/opt/newpkg/blob.bin"
  perl -e 'srand(11); open(my $f, ">", $ARGV[0]) or die $!; my $n = 0;
    while ($n < 2 << 20) { my $l = join(" ", map { int(rand(1e6)) } 1 .. 20) . "\n"; print $f $l; $n += length $l }' \
    "$mnt/opt/newpkg/data.txt"
}

# 640 random 64 KiB blocks at 64 KiB-aligned offsets anywhere in the image
# (some land in ext4 metadata: day2 is a byte-level test object, not
# necessarily a mountable file system). Offsets: perl's seeded drand48;
# contents: the AES-CTR keystream.
churn_blocks() {
  local img=$1
  keystream "blocks-$CHURN_SEED" $((CHURN_BLOCKS * BLOCK)) | perl -e '
    my ($img, $count, $blk, $seed) = @ARGV;
    my $nblocks = int((-s $img) / $blk);
    srand($seed); my (%seen, @pick);
    while (@pick < $count) { my $b = int(rand($nblocks)); push @pick, $b unless $seen{$b}++ }
    open(my $fh, "+<:raw", $img) or die "$img: $!"; binmode STDIN;
    for my $b (@pick) {
      my $buf = ""; while (length $buf < $blk) { read(STDIN, $buf, $blk - length $buf, length $buf) or die "short keystream" }
      sysseek($fh, $b * $blk, 0) or die $!; syswrite($fh, $buf) == $blk or die "write: $!";
    }
    close $fh or die $!;' "$img" "$CHURN_BLOCKS" "$BLOCK" "$CHURN_SEED"
}

build_day2() {
  local day1=$1 img=$2 mnt=$3
  if fresh "$img" "$day1"; then log "day2.img: present, skipped"; return; fi
  local t0=$SECONDS
  rm -f -- "$img.partial"
  cp --sparse=always -- "$day1" "$img.partial"
  mkdir -p -- "$mnt"
  mount -o loop -- "$img.partial" "$mnt"
  trap 'umount "$mnt" 2>/dev/null || true' EXIT   # never leave the loop device behind
  churn_files "$mnt"
  sync
  umount -- "$mnt"
  trap - EXIT
  rmdir -- "$mnt"
  churn_blocks "$img.partial"
  sync
  mv -- "$img.partial" "$img"
  log "day2.img: done in $((SECONDS - t0)) s ($(du -B1 "$img" | cut -f1) bytes allocated)"
}

# Changed-block bitmap. Reads both images in 16 MiB pieces; only a piece that
# differs is compared block by block (holes read back as zeros, which is what
# the guest sees). ~3-5 s for 4 GiB here.
build_cbt() {
  local day1=$1 day2=$2 out=$3
  if fresh "$out" "$day1" "$day2"; then
    log "day2.cbt: present, skipped ($(perl -e 'local $/; my $b = <STDIN>; print unpack("%32b*", $b)' < "$out") blocks set)"
    return
  fi
  local t0=$SECONDS
  perl -e '
    my ($a, $b, $out, $blk) = @ARGV;
    my $size = -s $a; die "size differs\n" unless $size == -s $b;
    my $nblocks = int(($size + $blk - 1) / $blk);
    my $bitmap = "\0" x int(($nblocks + 7) / 8);
    open(my $fa, "<:raw", $a) or die "$a: $!"; open(my $fb, "<:raw", $b) or die "$b: $!";
    my $piece = 256 * $blk; my ($i, $changed) = (0, 0);
    while (1) {
      my $na = read($fa, my $x, $piece); my $nb = read($fb, my $y, $piece);
      die "read error\n" unless defined $na && defined $nb && $na == $nb;
      last if $na == 0;
      if ($x eq $y) { $i += int(($na + $blk - 1) / $blk); next }   # most pieces: no change
      for (my $o = 0; $o < $na; $o += $blk, $i++) {
        next if substr($x, $o, $blk) eq substr($y, $o, $blk);
        vec($bitmap, $i >> 3, 8) |= 0x80 >> ($i & 7); $changed++;
      }
    }
    open(my $fo, ">:raw", $out) or die "$out: $!"; print $fo $bitmap; close $fo or die $!;
    printf "%d of %d 64 KiB blocks differ (%.2f %%, %.1f MiB)\n", $changed, $nblocks, 100 * $changed / $nblocks, $changed * $blk / 2**20;
  ' "$day1" "$day2" "$out.partial" "$BLOCK"
  mv -- "$out.partial" "$out"
  log "day2.cbt: done in $((SECONDS - t0)) s ($(stat -c %s "$out") bytes)"
}

main() {
  (($# == 1)) || die "usage: $0 BENCH_ROOT"
  ((EUID == 0)) || die "must run as root (debootstrap, loop mount)"
  local root; root=$(realpath -m -- "$1")
  mkdir -p -- "$root"
  ensure_packages debootstrap debian-archive-keyring gpgv e2fsprogs perl openssl mount coreutils
  build_rootfs "$root/rootfs"
  build_day1 "$root/rootfs" "$root/day1.img"
  build_day2 "$root/day1.img" "$root/day2.img" "$root/mnt"
  build_cbt "$root/day1.img" "$root/day2.img" "$root/day2.cbt"
  ls -ls -- "$root/day1.img" "$root/day2.img" "$root/day2.cbt"
}

main "$@"
