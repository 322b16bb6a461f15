#!/usr/bin/env python3
"""Statistics of a tuning-log corpus (JSON lines, optionally gzip-compressed, as
`priortune export` writes it): tasks, records per task, failures and the spread of costs
within each task (how much slower than the task's best its median and worst configs are).
Usage: corpus_stats.py corpus.jsonl[.gz] [--per-task]"""
import gzip
import json
import statistics
import sys


def dims_text(workload):
    return "x".join(f"{k}{v}" for k, v in sorted(workload.get("dims", {}).items()))


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    path = argv[1]
    opener = gzip.open if path.endswith(".gz") else open
    tasks = {}
    targets = set()
    with opener(path, "rt") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                print(f"{path}:{n}: not JSON ({e})", file=sys.stderr)
                return 2
            if "format" in rec:
                continue
            key = rec["workload_key"]
            t = tasks.setdefault(key, {"op": rec["op"], "dims": dims_text(rec["workload"]), "costs": [], "failed": 0})
            targets.add((rec["target"].get("microarch", rec["target"].get("cpu", "?")), rec.get("isa_family", "?")))
            costs = rec.get("costs") or []
            if rec["error"]["kind"] != "none" or not costs:
                t["failed"] += 1
            else:
                t["costs"].append(statistics.median(costs))
    records = sum(len(t["costs"]) + t["failed"] for t in tasks.values())
    print(f"corpus {path}")
    print(f"targets: {', '.join(f'{c} ({i})' for c, i in sorted(targets))}")
    print(f"tasks: {len(tasks)}; records: {records}; failed: {sum(t['failed'] for t in tasks.values())}")
    ops = {}
    for t in tasks.values():
        ops.setdefault(t["op"], []).append(t)
    for op, ts in sorted(ops.items()):
        print(f"  {op}: {len(ts)} tasks, {sum(len(t['costs']) + t['failed'] for t in ts)} records")
    per_task = [len(t["costs"]) + t["failed"] for t in tasks.values()]
    print(f"records per task: min {min(per_task)}, median {statistics.median(per_task):g}, max {max(per_task)}")
    med, worst = [], []
    for t in tasks.values():
        if len(t["costs"]) < 2:
            continue
        best = min(t["costs"])
        t["median_ratio"] = statistics.median(t["costs"]) / best
        t["worst_ratio"] = max(t["costs"]) / best
        med.append(t["median_ratio"])
        worst.append(t["worst_ratio"])
    if med:
        print("spread of costs within a task (cost / the task's best):")
        print(f"  median config: median over tasks {statistics.median(med):.2f}x (min {min(med):.2f}x, max {max(med):.2f}x)")
        print(f"  worst config:  median over tasks {statistics.median(worst):.1f}x (min {min(worst):.1f}x, max {max(worst):.1f}x)")
    if "--per-task" in argv:
        print("op dims records failed best_ms median/best worst/best")
        for t in sorted(tasks.values(), key=lambda t: (t["op"], t["dims"])):
            if not t["costs"]:
                print(f"{t['op']} {t['dims']} {t['failed']} {t['failed']} - - -")
                continue
            print(f"{t['op']} {t['dims']} {len(t['costs']) + t['failed']} {t['failed']} {min(t['costs']) * 1e3:.4f} "
                  f"{t.get('median_ratio', 1):.2f} {t.get('worst_ratio', 1):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
