#!/usr/bin/env python3
"""Turn bench-out/results.csv (written by bench/run.sh) into a markdown summary.

Usage: summarize.py OUT_DIR DAY1_IMG DAY2_CBT   (markdown on stdout)

Every figure is the median over the runs whose step succeeded.
MB = 10^6 bytes; MB/s = apparent image size / wall time, as in peer-bench.md.
"""
import collections
import csv
import datetime
import os
import statistics
import sys

TOOLS = ["casulo", "restic", "borg"]
PEERS = ["restic", "borg"]
STEP_NAMES = {
    "backup1": "full backup day1",
    "backup2": "incremental day2",
    "backup2-nocbt": "incremental day2, no CBT",
    "restore2": "restore day2",
}
# (row label, casulo's step, the peers' step): peers have no CBT mode, so both
# casulo incrementals are compared with the same peer incremental.
COMPARISONS = [
    ("full backup day1", "backup1", "backup1"),
    ("incremental day2 (casulo with CBT)", "backup2", "backup2"),
    ("incremental day2 (casulo without CBT)", "backup2-nocbt", "backup2"),
    ("restore day2", "restore2", "restore2"),
]
MIB = 1 << 20


def load(path):
    rows = collections.defaultdict(list)  # (tool, step) -> [row, ...] (successful runs)
    failed = collections.Counter()
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r["status"] == "ok":
                rows[(r["tool"], r["step"])].append(r)
            else:
                failed[(r["tool"], r["step"])] += 1
    return rows, failed


def median(rows, field):
    vals = [float(r[field]) for r in rows if r[field] != ""]
    return statistics.median(vals) if vals else None


def others_share(row):
    """Share (%) of the machine's CPU time that other processes used during the step."""
    if not row.get("others_cpu_s"):
        return None
    return 100 * float(row["others_cpu_s"]) / (float(row["wall_s"]) * os.cpu_count())


def busiest(rows):
    """Highest others_share over the runs, as text ("–" if not recorded)."""
    vals = [v for v in map(others_share, rows) if v is not None]
    return f"{max(vals):.0f}" if vals else "–"


def fmt(v, digits=2):
    return "–" if v is None else f"{v:.{digits}f}"


def main():
    out_dir, day1, cbt = sys.argv[1:4]
    rows, failed = load(os.path.join(out_dir, "results.csv"))
    size = os.stat(day1).st_size
    alloc = os.stat(day1).st_blocks * 512
    with open(cbt, "rb") as f:
        changed = sum(bin(b).count("1") for b in f.read())
    nblocks = (size + 65535) // 65536
    runs = max((int(r["run"]) for rs in rows.values() for r in rs), default=0)

    def wall(tool, step):
        return median(rows.get((tool, step), []), "wall_s")

    def cell(tool, step):
        w = wall(tool, step)
        return "–" if w is None else f"{w:.2f} s ({size / 1e6 / w:.0f} MB/s)"

    p = print
    p(f"# Casulo vs restic vs borg — {datetime.date.today()}")
    p()
    p(f"Images: `{day1}` and day2: {size:,} bytes apparent, day1 {alloc:,} allocated; "
      f"day2.cbt marks {changed} of {nblocks} 64 KiB blocks ({100 * changed / nblocks:.2f} %, "
      f"{changed * 65536 / MIB:.1f} MiB). Runs: {runs}, medians shown. Page cache dropped before "
      f"every step. MB/s = {size / 1e6:.2f} MB / wall.")
    p()
    busy = [r for rs in rows.values() for r in rs if (others_share(r) or 0) >= 10]
    if busy:
        p(f"**Warning:** other processes used ≥ 10 % of the CPU during {len(busy)} step(s) "
          "(column \"others' CPU %\" below); those timings are inflated.")
        p()
    p("## Wall time per step (ratio > 1: casulo is faster)")
    p()
    p("| step | casulo | restic | borg (zstd,3) | restic/casulo | borg/casulo |")
    p("|---|---|---|---|---|---|")
    for label, cstep, pstep in COMPARISONS:
        cw = wall("casulo", cstep)
        ratios = []
        for peer in PEERS:
            pw = wall(peer, pstep)
            ratios.append("–" if cw is None or pw is None else f"{pw / cw:.2f}×")
        p(f"| {label} | {cell('casulo', cstep)} | {cell('restic', pstep)} | "
          f"{cell('borg', pstep)} | {ratios[0]} | {ratios[1]} |")
    p()
    p("## Details")
    p()
    p("| tool | step | ok runs | wall s | MB/s | user s | sys s | CPU % | peak RSS MiB | others' CPU % during (max) |")
    p("|---|---|---|---|---|---|---|---|---|---|")
    for tool in TOOLS:
        for step, name in STEP_NAMES.items():
            rs = rows.get((tool, step), [])
            if not rs and not failed[(tool, step)]:
                continue
            w, u, s, rss = (median(rs, k) for k in ("wall_s", "user_s", "sys_s", "max_rss_kb"))
            ok = f"{len(rs)}" + (f" ({failed[(tool, step)]} FAILED)" if failed[(tool, step)] else "")
            mbs = fmt(size / 1e6 / w, 0) if w else "–"
            cpu = fmt(100 * (u + s) / w, 0) if w else "–"
            p(f"| {tool} | {name} | {ok} | {fmt(w)} | {mbs} | {fmt(u)} | {fmt(s)} | {cpu} | "
              f"{fmt(rss / 1024 if rss else None, 1)} | {busiest(rs)} |")
    p()
    p(f"## Repository size (du -sb, MiB; the day-2 change is {changed * 65536 / MIB:.1f} MiB)")
    p()
    p("| tool | after day1 | after day2 | growth |")
    p("|---|---|---|---|")
    for tool, step2, label in [("casulo", "backup2", "casulo (CBT)"),
                               ("casulo", "backup2-nocbt", "casulo (no CBT)"),
                               ("restic", "backup2", "restic"), ("borg", "backup2", "borg (zstd,3)")]:
        b1 = median(rows.get((tool, "backup1"), []), "repo_bytes")
        b2 = median(rows.get((tool, step2), []), "repo_bytes")
        if b1 is None and b2 is None:
            continue
        growth = fmt((b2 - b1) / MIB, 1) if b1 is not None and b2 is not None else "–"
        p(f"| {label} | {fmt(b1 / MIB if b1 else None, 1)} | {fmt(b2 / MIB if b2 else None, 1)} | +{growth} |")
    p()
    p("## Restores (cmp against day2.img)")
    p()
    p("| tool | verdicts | restored file allocated MiB |")
    p("|---|---|---|")
    for tool in TOOLS:
        rs = rows.get((tool, "restore2"), [])
        if not rs:
            continue
        verdicts = collections.Counter(r["verify"] for r in rs)
        v = ", ".join(f"{n}× {k}" for k, n in sorted(verdicts.items()))
        a = median(rs, "restored_alloc_bytes")
        p(f"| {tool} | {v} | {fmt(a / MIB if a is not None else None, 1)} |")


if __name__ == "__main__":
    main()
