#!/usr/bin/python3
"""Two meta_efficiency.sh runs of meta-ga and one-shot on one host, each with another
meta-trained model (issue 27: the shipped model of another CPU against one trained on this
CPU's corpus), compared against one best known config per shape (the best of every run
of both).

Usage: meta_prior_compare.py TRIALS BEFORE_DIR LABEL AFTER_DIR LABEL SHAPE_NAME...

Prints, per shape, meta-ga's median trials to 95% of the best known (per seed too) and
one-shot's best of its 64 against the best known (median, min over seeds), before and
after; "never" counts as TRIALS + 1 in medians.
"""
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tuning_efficiency_report import read_runs, trials_to  # noqa: E402


def main():
    cap = int(sys.argv[1])
    before_dir, before_label, after_dir, after_label = sys.argv[2:6]
    names = sys.argv[6:]
    sides = [(before_label, read_runs(before_dir, names)), (after_label, read_runs(after_dir, names))]
    best = {}
    for _, runs in sides:
        for r in runs:
            if r["costs"]:
                best[r["shape"]] = min(best.get(r["shape"], math.inf), min(r["costs"]))

    def t95(r):
        t = trials_to(r["costs"], best[r["shape"]] / 0.95)
        return t if t else None

    def of(runs, shape, strategy):
        return sorted((r for r in runs if r["shape"] == shape and r["strategy"] == strategy), key=lambda r: r["seed"])

    print("### meta-ga: trials to 95%% of the best known (%d trials per run; median over seeds, then each seed)\n" % cap)
    print("| shape | best known | %s | %s |" % (before_label, after_label))
    print("|---|---|---|---|")
    medians = {before_label: [], after_label: []}
    for n in names:
        if n not in best:
            continue
        cells = []
        for label, runs in sides:
            rs = of(runs, n, "meta-ga")
            vals = [t95(r) for r in rs]
            m = statistics.median([v if v else cap + 1 for v in vals]) if vals else None
            medians[label].append(m)
            seeds = ", ".join(str(v) if v else "never" for v in vals)
            cells.append("%s (%s)" % ("never" if m is not None and m > cap else ("%g" % m if m is not None else "-"), seeds))
        print("| %s | %.3f ms | %s | %s |" % (n, best[n] * 1e3, cells[0], cells[1]))
    row = []
    for label, _ in sides:
        ms = [m for m in medians[label] if m is not None]
        row.append("%g" % statistics.median(ms) if ms else "-")
    print("| **median over shapes** | | **%s** | **%s** |" % tuple(row))

    print("\n### one-shot: best of its measured candidates / best known (median, min over seeds)\n")
    print("| shape | %s | %s |" % (before_label, after_label))
    print("|---|---|---|")
    allq = {before_label: [], after_label: []}
    for n in names:
        if n not in best:
            continue
        cells = []
        for label, runs in sides:
            qs = [best[n] / min(r["costs"]) for r in of(runs, n, "one-shot") if r["costs"]]
            allq[label].append(statistics.median(qs) if qs else float("nan"))
            cells.append("%.3f, %.3f" % (statistics.median(qs), min(qs)) if qs else "-")
        print("| %s | %s | %s |" % (n, cells[0], cells[1]))
    print("| **median over shapes** | **%.3f** | **%.3f** |" % (statistics.median(allq[before_label]),
                                                             statistics.median(allq[after_label])))


if __name__ == "__main__":
    main()
