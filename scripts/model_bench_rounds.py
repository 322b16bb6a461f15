#!/usr/bin/python3
"""The timed rounds of scripts/model_bench.sh: priortune's model library (the example
program), ONNX Runtime (scripts/ort_bench.js) and PyTorch (scripts/torch_model_bench.py,
NCHW and channels_last) on the same model, input and thread count, alternated: every round
runs every contender once per (model, threads), in an order that rotates from round to
round. Each process's peak RSS comes from wait4; Node's own (ort_bench.js --baseline, a
session-less script) is measured in the same rounds and subtracted from ONNX Runtime's.

Usage: /usr/bin/python3 scripts/model_bench_rounds.py --dir DIR --models "resnet18 ..."
       --threads "1 2" [--repeat 50] [--rounds 5] [--no-torch] [--layouts]
DIR holds what model_bench.sh made: <model>.onnx, <model>.input.bin, <model>-run-t<N>
(and <model>-nchw-run-t<N> with --layouts). Writes DIR/latency.csv (one line per run) and
prints the tables: latency with each row's priortune / ORT speed (ORT ms / priortune ms,
per round: median and spread), 1-to-2-thread scaling, peak RSS. Exit 2 for bad usage, 1
when a contender fails.
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def popen_wait4(cmd):
    """Runs cmd; returns (stdout, peak RSS in KiB), reaping the child with wait4 so that its
    rusage is kept; exits 1 naming the command when it fails."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)  # so that Popen does not wait again
    if p.returncode != 0:
        print("model_bench_rounds: %s failed (exit %d): %s" % (" ".join(cmd), p.returncode, err.decode()[-2000:]),
              file=sys.stderr)
        sys.exit(1)
    return out.decode(), usage.ru_maxrss


def input_args(d, m):
    """--input NAME=FILE for each of the model's exported inputs (its .json), and whether
    they are token ids (no channels_last)."""
    meta = json.load(open(os.path.join(d, m + ".json")))
    x = []
    for name, t in meta["inputs"].items():
        x += ["--input", "%s=%s" % (name, os.path.join(d, t["file"]))]
    return x, any(t["dtype"] != "float32" for t in meta["inputs"].values())


def contenders(args, m, t):
    d = args.dir
    x, tokens = input_args(d, m)
    onnx = os.path.join(d, m + ".onnx")
    rep = str(args.repeat)
    c = {
        "priortune": [os.path.join(d, "%s-run-t%d" % (m, t)), "--threads", str(t), "--repeat", rep] + x,
        "onnxruntime": ["node", os.path.join(ROOT, "scripts", "ort_bench.js"), onnx, "--threads", str(t),
                        "--repeat", rep] + x,
        "node_baseline": ["node", os.path.join(ROOT, "scripts", "ort_bench.js"), onnx, "--threads", str(t),
                          "--baseline"] + x,
    }
    if args.layouts:
        c["priortune_nchw"] = [os.path.join(d, "%s-nchw-run-t%d" % (m, t)), "--threads", str(t), "--repeat", rep] + x
    if not args.no_torch:
        torch = ["/usr/bin/python3", os.path.join(ROOT, "scripts", "torch_model_bench.py"), m, "--threads", str(t),
                 "--repeat", rep]
        c["pytorch"] = torch
        if not tokens:
            c["pytorch_channels_last"] = torch + ["--channels-last"]
    return c


def parse_ms(name, out, meta):
    if name.startswith("priortune"):
        for line in out.splitlines():
            if "ms per inference" in line:
                return float(line.split(":")[1].split("ms")[0])
        raise ValueError("no latency in: " + out)
    if name == "node_baseline":
        return None
    j = json.loads(out.strip().splitlines()[-1])
    if name == "onnxruntime":
        meta["onnxruntime"] = j["onnxruntime"]
        meta["node"] = j["node"]
    else:
        meta["torch"] = j["torch"]
    return j["median_ms"]


def spread(v):
    """median [min-max], or "-" when nothing was timed (channels_last for a token model)."""
    return "%.2f [%.2f-%.2f]" % (statistics.median(v), min(v), max(v)) if v else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--threads", required=True)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--layouts", action="store_true")
    args = ap.parse_args()
    models = args.models.split()
    threads = [int(t) for t in args.threads.split()]
    if not models or not threads or min(threads) < 1 or args.repeat < 1 or args.rounds < 1:
        print("model_bench_rounds: models, threads >= 1, repeat >= 1 and rounds >= 1 are needed", file=sys.stderr)
        return 2

    rows = []  # model, threads, round, contender, ms, peak RSS KiB
    meta = {}
    for r in range(1, args.rounds + 1):
        for m in models:
            for t in threads:
                c = contenders(args, m, t)
                names = sorted(c)
                k = (r - 1) % len(names)
                for name in names[k:] + names[:k]:  # the order rotates from round to round
                    out, rss = popen_wait4(c[name])
                    ms = parse_ms(name, out, meta)
                    rows.append({"model": m, "threads": t, "round": r, "contender": name,
                                 "ms": "" if ms is None else "%.4f" % ms, "peak_rss_kb": rss})
                line = ", ".join("%s %s" % (x["contender"], x["ms"]) for x in rows
                                 if x["model"] == m and x["threads"] == t and x["round"] == r and x["ms"])
                print("round %d %s %d thread(s): %s" % (r, m, t, line), file=sys.stderr, flush=True)
    with open(os.path.join(args.dir, "latency.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["model", "threads", "round", "contender", "ms", "peak_rss_kb"])
        w.writeheader()
        w.writerows(rows)

    def ms(m, t, name):
        return {x["round"]: float(x["ms"]) for x in rows
                if x["model"] == m and x["threads"] == t and x["contender"] == name and x["ms"]}

    def rss(m, t, name):
        return [x["peak_rss_kb"] / 1024 for x in rows if x["model"] == m and x["threads"] == t and x["contender"] == name]

    print("ONNX Runtime %s (npm onnxruntime-node, Node %s)%s; %d rounds of %d timed inferences each; ms: median "
          "[min-max] over the rounds" % (meta.get("onnxruntime"), meta.get("node"),
                                         "" if args.no_torch else ", PyTorch " + meta.get("torch", "?"),
                                         args.rounds, args.repeat))
    head = "| model | threads | priortune ms | ONNX Runtime ms | priortune / ORT speed |"
    if args.layouts:
        head += " priortune all-NCHW ms |"
    if not args.no_torch:
        head += " PyTorch ms (NCHW) | PyTorch ms (channels_last) |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for m in models:
        for t in threads:
            ours, theirs = ms(m, t, "priortune"), ms(m, t, "onnxruntime")
            ratio = [theirs[r] / ours[r] for r in ours if r in theirs]
            line = "| %s | %d | %s | %s | %s |" % (m, t, spread(list(ours.values())), spread(list(theirs.values())),
                                                   spread(ratio))
            if args.layouts:
                line += " %s |" % spread(list(ms(m, t, "priortune_nchw").values()))
            if not args.no_torch:
                line += " %s | %s |" % (spread(list(ms(m, t, "pytorch").values())),
                                        spread(list(ms(m, t, "pytorch_channels_last").values())))
            print(line)
    if 1 in threads and len(threads) > 1:
        print()
        print("| model | threads | priortune speedup over 1 thread | ONNX Runtime speedup over 1 thread |")
        print("|---|---|---|---|")
        for m in models:
            for t in threads:
                if t == 1:
                    continue
                ours = [ms(m, 1, "priortune")[r] / ms(m, t, "priortune")[r] for r in ms(m, t, "priortune")]
                theirs = [ms(m, 1, "onnxruntime")[r] / ms(m, t, "onnxruntime")[r] for r in ms(m, t, "onnxruntime")]
                print("| %s | %d | %s | %s |" % (m, t, spread(ours), spread(theirs)))
    print()
    print("| model | threads | priortune peak RSS MB | ONNX Runtime peak RSS MB | Node alone MB | ORT minus Node MB |")
    print("|---|---|---|---|---|---|")
    for m in models:
        for t in threads:
            ours, theirs, node = rss(m, t, "priortune"), rss(m, t, "onnxruntime"), rss(m, t, "node_baseline")
            print("| %s | %d | %.1f | %.1f | %.1f | %.1f |" % (m, t, statistics.median(ours), statistics.median(theirs),
                                                           statistics.median(node),
                                                           statistics.median(theirs) - statistics.median(node)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
