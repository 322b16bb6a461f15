#!/usr/bin/python3
"""Tables and plots of scripts/meta_efficiency.sh's traces (issue 10).

Usage: meta_efficiency_report.py OUT_DIR TRIALS SHAPE_NAME...

Reads OUT_DIR/runs/<shape>-<strategy>-<seed>.csv and .log as tuning_efficiency_report.py
does; the best known config of a shape is the best of every run of it. Prints markdown
tables (trials to 95%, meta-ga against cold xgb-ga, one-shot's 64 against the best known
and against xgb-ga's time to the same speed, best so far at fixed trials, cost-model time)
and writes meta-trials.png / meta-seconds.png and meta-summary.csv.
"""
import csv
import math
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tuning_efficiency_report import (best_known, median_censored, plot_curves, print_checkpoints, ratio,  # noqa: E402
                                      read_runs, trials_to)

STRATEGIES = ["random", "ga", "xgb-ga", "transfer", "meta-ga", "one-shot"]
LABELS = {"random": "random", "ga": "ga", "xgb-ga": "cold xgb-ga", "transfer": "xgb-ga + transfer (corpus)",
          "meta-ga": "meta-ga", "one-shot": "one-shot (64)"}
COLORS = {"random": "tab:gray", "ga": "tab:blue", "xgb-ga": "tab:orange", "transfer": "tab:green",
          "meta-ga": "tab:purple", "one-shot": "tab:red"}


def main():
    out, cap, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    runs = [r for r in read_runs(out, names) if r["strategy"] in STRATEGIES]
    best = best_known(runs)
    present = [s for s in STRATEGIES if any(r["strategy"] == s for r in runs)]
    for r in runs:
        b = best.get(r["shape"], math.inf)
        r["t95"] = trials_to(r["costs"], b / 0.95)
        r["best"] = min(r["costs"]) if r["costs"] else math.inf
        m = re.search(r"cost model: ([\d.]+) s of ([\d.]+) s wall time", r["log"])
        r["model_s"], r["wall_s"] = (float(m.group(1)), float(m.group(2))) if m else (None, None)
        if r["wall_s"] is None and r["elapsed"]:
            r["wall_s"] = r["elapsed"][-1]

    with open(os.path.join(out, "meta-summary.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["shape", "strategy", "seed", "trials", "trials_to_95", "run_best_ms", "best_known_over_run_best",
                    "wall_seconds", "model_seconds"])
        for r in runs:
            w.writerow([r["shape"], r["strategy"], r["seed"], len(r["costs"]), r["t95"] or "never",
                        "%.4f" % (r["best"] * 1e3), "%.4f" % (best[r["shape"]] / r["best"] if math.isfinite(r["best"]) else 0),
                        r["wall_s"] or "", r["model_s"] or ""])

    def of(shape, strategy):
        return [r for r in runs if r["shape"] == shape and r["strategy"] == strategy]

    shapes = [n for n in names if n in best]
    print("### Median trials to reach 95%% of the best known config (%d trials per run; one-shot: 64)\n" % cap)
    print("| shape | best known | " + " | ".join(LABELS[s] for s in present) + " |")
    print("|---|---|" + "---|" * len(present))
    for n in shapes:
        cells = []
        for s in present:
            rs = of(n, s)
            if not rs:
                cells.append("—")
                continue
            v = median_censored([r["t95"] for r in rs])
            cells.append("never (>%d)" % len(rs[0]["costs"]) if v == math.inf else "%g" % v)
        print("| %s | %.3f ms | %s |" % (n, best[n] * 1e3, " | ".join(cells)))

    if "meta-ga" in present and "xgb-ga" in present:
        print("\n### meta-ga against cold xgb-ga: trials to 95%, ratio (acceptance: at most 0.5)\n")
        print("| shape | cold xgb-ga | meta-ga | meta-ga / xgb-ga |")
        print("|---|---|---|---|")
        per_shape, pairs = [], []
        for n in shapes:
            if not of(n, "meta-ga") or not of(n, "xgb-ga"):
                continue
            a = median_censored([r["t95"] for r in of(n, "meta-ga")])
            b = median_censored([r["t95"] for r in of(n, "xgb-ga")])
            r_, text = ratio(a, b, cap)
            if r_ is not None:
                per_shape.append(r_)
            fa = "never" if a == math.inf else "%g" % a
            fb = "never" if b == math.inf else "%g" % b
            print("| %s | %s | %s | %s |" % (n, fb, fa, text))
            for ra in of(n, "meta-ga"):
                for rb in of(n, "xgb-ga"):
                    if rb["seed"] == ra["seed"]:
                        pa = ra["t95"] or cap + 1
                        pb = rb["t95"] or cap + 1
                        pairs.append(pa / pb)
        if per_shape:
            print("| **median over shapes** | | | **%.2f** |" % statistics.median(per_shape))
        if pairs:
            print("| median over the %d same-seed pairs | | | %.2f |" % (len(pairs), statistics.median(pairs)))
        print("\n(\"never\" counts as %d trials; a ratio with one side never is a bound)" % (cap + 1))

    if "one-shot" in present:
        print("\n### one-shot: the best of its measured candidates against the best known, and cold xgb-ga's "
              "time to reach the same speed\n")
        print("| shape | measured | best / best known (median, min) | one-shot wall s | xgb-ga trials to that speed "
              "| xgb-ga wall s to it |")
        print("|---|---|---|---|---|---|")
        fractions = []
        for n in shapes:
            rs = of(n, "one-shot")
            if not rs:
                continue
            fr = [best[n] / r["best"] if math.isfinite(r["best"]) else 0 for r in rs]
            fractions.append(statistics.median(fr))
            xt, xs = [], []
            for r in rs:
                for x in of(n, "xgb-ga"):
                    if x["seed"] != r["seed"]:
                        continue
                    t = trials_to(x["costs"], r["best"])
                    xt.append(t if t else math.inf)
                    xs.append(x["elapsed"][t - 1] if t else math.inf)
            wall = statistics.median([r["wall_s"] for r in rs if r["wall_s"]]) if rs else float("nan")
            mt = median_censored(xt) if xt else None
            ms = median_censored(xs) if xs else None
            print("| %s | %d | %.3f, %.3f | %.1f | %s | %s |" % (
                n, max(len(r["costs"]) for r in rs), statistics.median(fr), min(fr), wall,
                "—" if mt is None else ("never" if mt == math.inf else "%g" % mt),
                "—" if ms is None else ("never" if ms == math.inf else "%.1f" % ms)))
        if fractions:
            print("| **median over shapes** | | **%.3f** | | | |" % statistics.median(fractions))
        print("\n(acceptance: at least 0.90 of the best known's speed, aim 0.95)")

    checkpoints = [c for c in (8, 16, 32, 64, 100, 200) if c <= cap]
    print("\n### Best so far / best known at fixed trial counts (median over shapes and seeds; min)\n")
    print_checkpoints(runs, best, present, LABELS, checkpoints)

    print("\n### Cost-model time: share of wall time (median, max)\n")
    print("| strategy | runs | model share | wall s (median) |")
    print("|---|---|---|---|")
    for s in present:
        rs = [r for r in runs if r["strategy"] == s and r["wall_s"]]
        shares = [100 * r["model_s"] / r["wall_s"] for r in rs if r["model_s"] is not None]
        if rs:
            print("| %s | %d | %s | %.1f |" % (LABELS[s], len(rs),
                                              "%.1f%%, %.1f%%" % (statistics.median(shares), max(shares)) if shares else "—",
                                              statistics.median([r["wall_s"] for r in rs])))
    meta = [r for r in runs if r["strategy"] == "meta-ga"]
    if meta:
        fell = sum(1 for r in meta if "guiding with the un-adapted" in r["log"])
        print("\nmeta-ga runs that fell back to the un-adapted model at least once: %d of %d" % (fell, len(meta)))
    plot_curves(out, runs, best, names, present, LABELS, COLORS, "meta")


if __name__ == "__main__":
    main()
