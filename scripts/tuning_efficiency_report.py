#!/usr/bin/python3
"""Tables and plots of scripts/tuning_efficiency.sh's traces.

Usage: tuning_efficiency_report.py OUT_DIR TRIALS SHAPE_NAME...

Reads OUT_DIR/runs/<shape>-<strategy>-<seed>.csv (trial,cost_seconds,best_seconds,
elapsed_seconds) and .log (the tune command's output); writes summary.csv, curves.csv,
efficiency-trials.png and efficiency-seconds.png to OUT_DIR and prints markdown tables.
The best known config of a shape is the best of every run of it (the long run included).
"""
import csv
import math
import os
import re
import statistics
import sys

STRATEGIES = ["random", "ga", "xgb-ga", "transfer", "fade"]
LABELS = {"random": "random", "ga": "ga", "xgb-ga": "xgb-ga", "transfer": "xgb-ga + transfer",
          "fade": "xgb-ga + fading transfer (AutoTVM)", "long": "long"}
LEVELS = [0.90, 0.95, 0.99]


def read_runs(out, names):
    runs = []  # dicts: shape, strategy, seed, costs, elapsed, log
    for f in sorted(os.listdir(os.path.join(out, "runs"))):
        if not f.endswith(".csv"):
            continue
        base = f[:-4]
        shape = next((n for n in sorted(names, key=len, reverse=True) if base.startswith(n + "-")), None)
        if shape is None:
            continue
        strategy, seed = base[len(shape) + 1:].rsplit("-", 1)
        costs, elapsed = [], []
        with open(os.path.join(out, "runs", f)) as fh:
            for row in csv.DictReader(fh):
                c = float(row["cost_seconds"])
                costs.append(c if math.isfinite(c) else math.inf)
                elapsed.append(float(row.get("elapsed_seconds") or "nan"))
        log = ""
        if os.path.exists(os.path.join(out, "runs", base + ".log")):
            with open(os.path.join(out, "runs", base + ".log")) as fh:
                log = fh.read()
        runs.append(dict(shape=shape, strategy=strategy, seed=int(seed), costs=costs, elapsed=elapsed, log=log))
    return runs


def trials_to(costs, target):
    for i, c in enumerate(costs):
        if c <= target:
            return i + 1
    return None


def fmt_trials(v, cap):
    return "never (>%d)" % cap if v is None or v == math.inf else ("%g" % v)


def median_censored(values):
    """Median with 'never' as +inf; inf if at least half never reached."""
    return statistics.median([math.inf if v is None else v for v in values])


def ratio(a, b, cap):
    """a / b of medians of trials; censored values count as cap + 1 and make a bound."""
    if a == math.inf and b == math.inf:
        return None, "n/a (both never)"
    av, bv = (cap + 1 if a == math.inf else a), (cap + 1 if b == math.inf else b)
    r = av / bv
    if b == math.inf:
        return r, "<= %.2f" % r
    if a == math.inf:
        return r, ">= %.2f" % r
    return r, "%.2f" % r


def best_known(runs):
    """Per shape, the best cost of every run of it."""
    best = {}
    for r in runs:
        finite = [c for c in r["costs"] if math.isfinite(c)]
        if finite:
            best[r["shape"]] = min(best.get(r["shape"], math.inf), min(finite))
    return best


def print_checkpoints(runs, best, strategies, labels, checkpoints):
    """The markdown rows of best so far / best known at fixed trial counts per strategy."""
    print("| strategy | runs | " + " | ".join("trial %d" % c for c in checkpoints) + " |")
    print("|---|---|" + "---|" * len(checkpoints))
    for s in strategies:
        rs = [r for r in runs if r["strategy"] == s]
        if not rs:
            continue
        cells = []
        for c in checkpoints:
            v = [best[r["shape"]] / min(r["costs"][:c]) for r in rs if len(r["costs"]) >= c]
            cells.append("%.3f (%.3f)" % (statistics.median(v), min(v)) if v else "—")
        print("| %s | %d | %s |" % (labels[s], len(rs), " | ".join(cells)))


def main():
    out, cap, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    runs = read_runs(out, names)
    best = best_known(runs)

    rows = []
    for r in runs:
        b = best.get(r["shape"], math.inf)
        t = {lv: trials_to(r["costs"], b / lv) for lv in LEVELS}
        t95 = t[0.95]
        secs95 = r["elapsed"][t95 - 1] if t95 else None
        m = re.search(r"cost model: ([\d.]+) s of ([\d.]+) s wall time", r["log"])
        busy = re.search(r"workers busy ([\d.]+)%", r["log"])
        run_best = min(r["costs"]) if r["costs"] else math.inf
        rows.append(dict(shape=r["shape"], strategy=r["strategy"], seed=r["seed"], trials=len(r["costs"]),
                         t90=t[0.90], t95=t95, t99=t[0.99], s95=secs95,
                         best_ms=run_best * 1e3, fraction=b / run_best if math.isfinite(run_best) else 0,
                         model_s=float(m.group(1)) if m else None, wall_s=float(m.group(2)) if m else
                         (r["elapsed"][-1] if r["elapsed"] else None),
                         busy=float(busy.group(1)) if busy else None))

    with open(os.path.join(out, "summary.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["shape", "strategy", "seed", "trials", "trials_to_90", "trials_to_95", "trials_to_99",
                    "seconds_to_95", "run_best_ms", "run_best_over_best_known", "model_seconds", "wall_seconds",
                    "workers_busy_percent"])
        for r in rows:
            w.writerow([r["shape"], r["strategy"], r["seed"], r["trials"],
                        r["t90"] or "never", r["t95"] or "never", r["t99"] or "never",
                        "%.1f" % r["s95"] if r["s95"] is not None else "never", "%.4f" % r["best_ms"],
                        "%.4f" % r["fraction"], r["model_s"] if r["model_s"] is not None else "",
                        r["wall_s"] if r["wall_s"] is not None else "", r["busy"] if r["busy"] is not None else ""])

    with open(os.path.join(out, "curves.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["shape", "strategy", "seed", "trial", "elapsed_seconds", "best_seconds", "best_known_over_best"])
        for r in runs:
            b, run = best.get(r["shape"], math.inf), math.inf
            for i, c in enumerate(r["costs"]):
                run = min(run, c)
                w.writerow([r["shape"], r["strategy"], r["seed"], i + 1, r["elapsed"][i], run,
                            "%.4f" % (b / run if math.isfinite(run) else 0)])

    # Tables.
    def med(shape, strategy, key):
        v = [r[key] for r in rows if r["shape"] == shape and r["strategy"] == strategy]
        return median_censored(v) if v else None

    print("### Median trials to reach 90 / 95 / 99%% of the best known config (%d trials per run)\n" % cap)
    print("| shape | best known | " + " | ".join(LABELS[s] for s in STRATEGIES) + " |")
    print("|---|---|" + "---|" * len(STRATEGIES))
    for n in names:
        if n not in best:
            continue
        cells = []
        for s in STRATEGIES:
            v = [med(n, s, k) for k in ("t90", "t95", "t99")]
            cells.append("—" if v[0] is None else " / ".join(fmt_trials(x, cap).replace("never (>%d)" % cap, "never")
                                                             for x in v))
        print("| %s | %.3f ms | %s |" % (n, best[n] * 1e3, " | ".join(cells)))

    print("\n### Trials to 95%%: ratio to ga (median over seeds per shape; never = %d + 1, a bound)\n" % cap)
    print("| shape | ga | xgb-ga | xgb-ga / ga | xgb-ga + transfer | transfer / ga | fading transfer | fading / ga |")
    print("|---|---|---|---|---|---|---|---|")
    ratios = {"xgb-ga": [], "transfer": [], "fade": []}
    for n in names:
        if n not in best:
            continue
        g = med(n, "ga", "t95")
        cells = [fmt_trials(g, cap)]
        for s in ("xgb-ga", "transfer", "fade"):
            v = med(n, s, "t95")
            if v is None:
                cells += ["—", "—"]
                continue
            r, text = ratio(v, g, cap)
            if r is not None:
                ratios[s].append(r)
            cells += [fmt_trials(v, cap), text]
        print("| %s | %s |" % (n, " | ".join(cells)))
    for s, v in ratios.items():
        if v:
            print("\nmedian over shapes of %s / ga: %.2f (%s)" % (LABELS[s], statistics.median(v),
                                                              ", ".join("%.2f" % x for x in v)))
    # Per (shape, seed) pairs, same seed.
    for s in ("xgb-ga", "transfer", "fade"):
        pairs = []
        for n in names:
            for seed in sorted({r["seed"] for r in rows if r["shape"] == n and r["strategy"] == s}):
                a = [r["t95"] for r in rows if r["shape"] == n and r["strategy"] == s and r["seed"] == seed]
                b = [r["t95"] for r in rows if r["shape"] == n and r["strategy"] == "ga" and r["seed"] == seed]
                if a and b:
                    rr, _ = ratio(a[0] or math.inf, b[0] or math.inf, cap)
                    if rr is not None:
                        pairs.append(rr)
        if pairs:
            print("median over shapes and seeds of %s / ga (same seed): %.2f over %d pairs" %
                  (LABELS[s], statistics.median(pairs), len(pairs)))

    kept = {}
    for r in runs:
        if r["strategy"] == "transfer":
            m = re.search(r"kept the (transferred|task-only) model", r["log"])
            kept.setdefault(m.group(1) if m else "undecided", []).append("%s/%d" % (r["shape"], r["seed"]))
    if kept:
        print("\nguard decisions of the transfer runs: " +
              "; ".join("%s: %d (%s)" % (k, len(v), ", ".join(v)) for k, v in sorted(kept.items())))

    # Trials-to-95% flips on timing noise when runs end within a few % of each other; the
    # best-so-far at fixed trial counts shows the same runs without a threshold.
    checkpoints = [c for c in (16, 32, 64, 100, 200) if c <= cap]
    print("\n### Best so far / best known at fixed trial counts: median (min) over shapes and seeds\n")
    print_checkpoints(runs, best, STRATEGIES, LABELS, checkpoints)

    print("\n### Cost-model time (xgb-ga runs): share of wall time, workers busy\n")
    print("| strategy | runs | model share of wall time (median, max) | workers busy (median, min) |")
    print("|---|---|---|---|")
    for s in ("xgb-ga", "transfer", "fade", "long", "ga"):
        rs = [r for r in rows if r["strategy"] == s and r["wall_s"]]
        shares = [100 * r["model_s"] / r["wall_s"] for r in rs if r["model_s"] is not None]
        busy = [r["busy"] for r in rs if r["busy"] is not None]
        if rs:
            print("| %s | %d | %s | %s |" % (LABELS[s], len(rs),
                                          "%.1f%%, %.1f%%" % (statistics.median(shares), max(shares)) if shares else "—",
                                          "%.1f%%, %.1f%%" % (statistics.median(busy), min(busy)) if busy else "—"))

    colors = {"random": "tab:gray", "ga": "tab:blue", "xgb-ga": "tab:orange", "transfer": "tab:green",
              "fade": "tab:red"}
    plot_curves(out, runs, best, names, STRATEGIES, LABELS, colors, "efficiency")

def plot_curves(out, runs, best, names, strategies, labels, colors, prefix):
    """<prefix>-trials.png and <prefix>-seconds.png: per shape, best known / best so far
    against trials and wall-clock seconds, median over seeds with a min-max band."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(no matplotlib: plots skipped)")
        return
    shapes = [n for n in names if n in best]
    for axis, fname in (("trials", prefix + "-trials.png"), ("seconds", prefix + "-seconds.png")):
        cols = 3
        nrows = (len(shapes) + cols - 1) // cols
        fig, axes = plt.subplots(nrows, cols, figsize=(5 * cols, 3.6 * nrows), squeeze=False)
        for i, n in enumerate(shapes):
            ax = axes[i // cols][i % cols]
            for s in strategies:
                rs = [r for r in runs if r["shape"] == n and r["strategy"] == s]
                if not rs:
                    continue
                length = min(len(r["costs"]) for r in rs)
                curves = []
                for r in rs:
                    run, c = math.inf, []
                    for x in r["costs"][:length]:
                        run = min(run, x)
                        c.append(best[n] / run if math.isfinite(run) else 0)
                    curves.append(c)
                mid = [statistics.median(v) for v in zip(*curves)]
                lo = [min(v) for v in zip(*curves)]
                hi = [max(v) for v in zip(*curves)]
                if axis == "trials":
                    x = list(range(1, length + 1))
                else:  # median over seeds of the elapsed time at each trial
                    x = [statistics.median(v) for v in zip(*[r["elapsed"][:length] for r in rs])]
                ax.plot(x, mid, color=colors[s], label=labels[s])
                ax.fill_between(x, lo, hi, color=colors[s], alpha=0.15, linewidth=0)
            ax.axhline(0.95, color="black", linewidth=0.6, linestyle=":")
            ax.set_title("%s (best known %.3f ms)" % (n, best[n] * 1e3), fontsize=10)
            ax.set_xlabel("trials" if axis == "trials" else "wall-clock seconds")
            ax.set_ylabel("best known / best so far")
            ax.set_ylim(0.5, 1.01)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.legend(fontsize=8, loc="lower right")
        for j in range(len(shapes), nrows * cols):
            axes[j // cols][j % cols].axis("off")
        machine = ""
        if os.path.exists(os.path.join(out, "machine.txt")):
            with open(os.path.join(out, "machine.txt")) as fh:
                machine = " · ".join(l.strip() for l in fh if l.strip() and not l.startswith("model:"))
        fig.suptitle("Tuning efficiency, median over seeds (band: min-max), 1 thread · " + machine, fontsize=9)
        fig.tight_layout()
        fig.savefig(os.path.join(out, fname), dpi=90)
        print("\nwrote %s" % os.path.join(out, fname))


if __name__ == "__main__":
    main()
