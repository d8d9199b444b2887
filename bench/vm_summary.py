#!/usr/bin/env python3
"""Markdown summary of bench/vm-bench.sh's results, against issue 5's targets.

Usage: vm_summary.py OUT_DIR DAY1_IMG BLOCKS   (markdown on stdout)

MB = 10^6 bytes; MB/s = apparent image size / wall time, as in run.sh.
"""
import csv
import json
import os
import sys

STEPS = [
    ("image-full", "casulo backup image (local file)"),
    ("vm-full", "casulo backup vm, first run"),
    ("vm-incr", "casulo backup vm, incremental"),
    ("vm-restore", "casulo restore vm (new VM, /import_raw_vdi)"),
    ("restic-full", "restic backup of the image"),
    ("restic-restore", "restic restore of the image"),
]


def vm_report(out, name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)[0]
    except (OSError, ValueError, IndexError, KeyError):
        return None


def main():
    out, day1, blocks = sys.argv[1], sys.argv[2], int(sys.argv[3])
    size = os.path.getsize(day1)
    rows = {}
    with open(os.path.join(out, "results.csv"), newline="") as f:
        for r in csv.DictReader(f):
            rows[r["step"]] = r
    with open(os.path.join(out, "env.txt")) as f:
        env = f.read().strip().splitlines()

    def wall(step):
        r = rows.get(step)
        return float(r["wall_s"]) if r and r["status"] == "ok" else None

    print(f"# VM backup end to end against casulo-sim ({size / 2**30:.0f} GiB disk)\n")
    print("\n".join(f"    {line}" for line in env) + "\n")
    print("| step | wall s | user s | sys s | peak RSS MiB | MB/s | others' CPU s | check |")
    print("|---|---|---|---|---|---|---|---|")
    for step, label in STEPS:
        r = rows.get(step)
        if not r:
            print(f"| {label} | not run | | | | | | |")
            continue
        if r["status"] != "ok":
            print(f"| {label} | FAILED | | | | | | |")
            continue
        w = float(r["wall_s"])
        rate = f"{size / 1e6 / w:.0f}" if step != "vm-incr" and w > 0 else "–"
        print(f"| {label} | {w:.2f} | {r['user_s']} | {r['sys_s']} | {int(r['max_rss_kb']) / 1024:.0f} "
              f"| {rate} | {r['others_cpu_s']} | {r['verify'] or ''} |")
    print()
    for name, label in (("vm-full.json", "first run"), ("vm-incr.json", "incremental")):
        rep = vm_report(out, name)
        if not rep:
            continue
        for d in rep.get("disks", []):
            print(f"- {label}: disk {d['name']}: transport {d['transport']}, read {d['read_bytes'] / 2**20:.1f} MiB, "
                  f"new {d['new_bytes'] / 2**20:.1f} MiB, {d['seconds']:.2f} s; phases "
                  + ", ".join(f"{k} {v:.2f} s" for k, v in rep.get("phases", {}).items()))
    print(f"- guest writes between the runs: {blocks} blocks of 64 KiB "
          f"({100 * blocks * 65536 / size:.2f} % of the disk)\n")

    print("| issue 5 target | measured | met |")
    print("|---|---|---|")
    img, full, incr = wall("image-full"), wall("vm-full"), wall("vm-incr")
    rest, rrest = wall("vm-restore"), wall("restic-restore")
    if img and full:
        share = img / full
        print(f"| full backup ≥ 80 % of the local-file pipeline | {100 * share:.0f} % | {'yes' if share >= 0.8 else 'no'} |")
    if incr is not None:
        print(f"| incremental of a 1.2 % change < 2 s | {incr:.2f} s | {'yes' if incr < 2 else 'no'} |")
    if rest and rrest:
        ratio = rrest / rest
        print(f"| restore ≥ 3× faster than restic | {ratio:.1f}× | {'yes' if ratio >= 3 else 'no'} |")


if __name__ == "__main__":
    main()
