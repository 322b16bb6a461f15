#!/usr/bin/python3
"""Where a model's time goes (issue 28): priortune's per-step profile (run-model
--profile: each step's median alone, and the whole inference's median) beside ONNX
Runtime's own profiler (session option enableProfiling, through scripts/ort_bench.js), at
each thread count, on the stores scripts/model_bench.sh tuned.

Usage: /usr/bin/python3 scripts/model_profile.py [--build build] [--dir build/model-bench]
       [--models "resnet18 mobilenet_v2"] [--threads "1 2"] [--repeat 50] [--rounds 3]
Needs DIR/<model>.onnx, <model>.input.bin and <model>.db (tuned at each thread count).
Prints markdown, per model:
  - per op kind: the time of each at every thread count (ms per inference, medians; their
    share of the kernels' time) and its parallel efficiency (t1 / (N x tN));
  - the time outside kernels: priortune's whole inference minus its steps' sum; ORT's
    model_run minus its nodes' sum, and session.run in Node minus model_run;
  - priortune's tuned steps in sequence (as an inference runs them), warm (each run 20
    times back to back, as the tuner measures a kernel) and as stored by the tuner: how
    much of the time is the kernels' inputs and weights coming from memory;
  - priortune's steps by parallel efficiency at the largest thread count, tuned and not
    tuned apart, the worst first.
Every figure is the median over --rounds alternated rounds (priortune and ORT at each
thread count per round), each of which is a median over --repeat inferences.
Writes DIR/profile/<model>-t<N>.priortune.json and the ORT traces beside them (the last
round's).
Kinds: conv (dense), depthwise conv, gemm, pool, elementwise, softmax, layout (ORT's
NCHWc reorders; priortune converts inside its kernels), shape (views, no work).
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WARMUP = 10


def ours_kind(step):
    op = step["op"]
    if op in ("conv2d", "group_conv2d"):
        return "conv"
    if op == "depthwise_conv2d":
        return "depthwise conv"
    if op in ("matmul", "dense", "batch_matmul"):
        return "gemm"
    if "pool" in op:
        return "pool"
    if op in ("relu", "clip", "add", "batch_norm"):
        return "elementwise"
    return op


def ort_kind(event):
    a = event["args"]
    op = a.get("op_name", "")
    if op in ("Conv", "FusedConv", "NchwcConv"):
        shapes = a.get("input_type_shape", [])
        w = list(shapes[1].values())[0] if len(shapes) > 1 else []
        x = list(shapes[0].values())[0] if shapes else []
        # A depthwise weight is [C, 1, kh, kw] with C the input's channels (NCHW or NCHWc).
        channels = x[1] * (x[4] if len(x) == 5 else 1) if len(x) >= 4 else -1
        if len(w) == 4 and w[1] == 1 and w[0] == channels and w[2] * w[3] > 1:
            return "depthwise conv"
        return "conv"
    if op in ("Gemm", "MatMul", "FusedGemm", "FusedMatMul"):
        return "gemm"
    if "Pool" in op:
        return "pool"
    if op in ("Add", "Sum", "Relu", "Clip", "Mul", "BatchNormalization"):
        return "elementwise"
    if op in ("ReorderInput", "ReorderOutput"):
        return "layout"
    if op in ("Flatten", "Reshape", "Squeeze", "Unsqueeze"):
        return "shape"
    return op


def profile_ours(args, m, t):
    path = os.path.join(args.dir, "profile", "%s-t%d.priortune.json" % (m, t))
    cmd = [args.exe, "run-model", os.path.join(args.dir, m + ".onnx"), "--db", os.path.join(args.dir, m + ".db"),
           "--threads", str(t), "--repeat", str(args.repeat), "--input", os.path.join(args.dir, m + ".input.bin"),
           "--profile", path]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(path) as f:
        p = json.load(f)
    kinds = {}
    for s in p["steps"]:
        kinds[ours_kind(s)] = kinds.get(ours_kind(s), 0) + s["ms"]
    return {"total": p["total_ms"], "kernels": p["steps_ms"], "kinds": kinds, "steps": p["steps"]}


def profile_ort(args, m, t):
    prefix = os.path.join(args.dir, "profile", "%s-t%d.ort" % (m, t))
    for old in glob.glob(prefix + "_*.json"):
        os.remove(old)
    cmd = ["node", os.path.join(ROOT, "scripts", "ort_bench.js"), os.path.join(args.dir, m + ".onnx"),
           "--threads", str(t), "--repeat", str(args.repeat), "--warmup", str(WARMUP),
           "--input", os.path.join(args.dir, m + ".input.bin"), "--profile", prefix]
    res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    with open(res["profile"]) as f:
        trace = json.load(f)
    runs = sorted((e for e in trace if e.get("cat") == "Session" and e["name"] == "model_run"), key=lambda e: e["ts"])
    runs = runs[-args.repeat:]  # the timed ones, after the warm-up
    nodes = [e for e in trace if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    per_run_kinds, per_run_kernels, per_run_total = [], [], []
    for r in runs:
        inside = [e for e in nodes if r["ts"] <= e["ts"] <= r["ts"] + r["dur"]]
        k = {}
        for e in inside:
            k[ort_kind(e)] = k.get(ort_kind(e), 0) + e["dur"] / 1e3
        per_run_kinds.append(k)
        per_run_kernels.append(sum(e["dur"] for e in inside) / 1e3)
        per_run_total.append(r["dur"] / 1e3)
    kinds = {}
    for kind in {k for d in per_run_kinds for k in d}:
        kinds[kind] = statistics.median(d.get(kind, 0) for d in per_run_kinds)
    return {"total": statistics.median(per_run_total), "kernels": statistics.median(per_run_kernels), "kinds": kinds,
            "session_run": res["median_ms"]}


def merge(results):
    """The median over rounds of every figure of profile_ours or profile_ort."""
    out = {k: statistics.median(r[k] for r in results) for k in ("total", "kernels", "session_run") if k in results[0]}
    kinds = {k for r in results for k in r["kinds"]}
    out["kinds"] = {k: statistics.median(r["kinds"].get(k, 0) for r in results) for k in kinds}
    if "steps" in results[0]:
        out["steps"] = []
        for i, step in enumerate(results[0]["steps"]):
            merged = dict(step)
            for k in ("ms", "warm_ms"):
                merged[k] = statistics.median(r["steps"][i][k] for r in results)
            out["steps"].append(merged)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--dir", default="")
    ap.add_argument("--models", default="resnet18 mobilenet_v2")
    ap.add_argument("--threads", default="1 2")
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    args.exe = os.path.join(args.build, "server", "priortune")
    args.dir = args.dir or os.path.join(args.build, "model-bench")
    threads = [int(x) for x in args.threads.split()]
    if not threads or min(threads) < 1 or args.repeat < 1 or args.rounds < 1 or not os.path.exists(args.exe):
        print("model_profile: threads and repeat must be at least 1, and %s must exist" % args.exe, file=sys.stderr)
        return 2
    os.environ.setdefault("ORT_NODE_PATH", os.path.join(args.build, "ort"))
    os.makedirs(os.path.join(args.dir, "profile"), exist_ok=True)
    t1, tn = threads[0], threads[-1]
    for m in args.models.split():
        runs_ours, runs_ort = {t: [] for t in threads}, {t: [] for t in threads}
        for _ in range(args.rounds):
            for t in threads:
                runs_ours[t].append(profile_ours(args, m, t))
                runs_ort[t].append(profile_ort(args, m, t))
        ours = {t: merge(runs_ours[t]) for t in threads}
        ort = {t: merge(runs_ort[t]) for t in threads}
        print("### %s\n" % m)
        cols = " | ".join("priortune %d thr ms (share)" % t for t in threads) + " | " + \
               " | ".join("ORT %d thr ms (share)" % t for t in threads)
        eff = len(threads) > 1
        print("| op kind | " + cols + (" | priortune eff. %d thr | ORT eff. %d thr |" % (tn, tn) if eff else " |"))
        print("|---|" + "---|" * (2 * len(threads) + (2 if eff else 0)))
        kinds = sorted({k for d in list(ours.values()) + list(ort.values()) for k in d["kinds"]},
                       key=lambda k: -(ours[t1]["kinds"].get(k, 0) + ort[t1]["kinds"].get(k, 0)))

        def cell(d, k):
            v = d["kinds"].get(k)
            return "-" if v is None else "%.3f (%.0f%%)" % (v, 100 * v / d["kernels"])

        def efficiency(d, k):
            a, b = d[t1]["kinds"].get(k), d[tn]["kinds"].get(k)
            return "-" if not a or not b else "%.2f" % (a * t1 / (b * tn))

        for k in kinds:
            row = [cell(ours[t], k) for t in threads] + [cell(ort[t], k) for t in threads]
            if eff:
                row += [efficiency(ours, k), efficiency(ort, k)]
            print("| %s | %s |" % (k, " | ".join(row)))
        row = ["%.3f" % ours[t]["kernels"] for t in threads] + ["%.3f" % ort[t]["kernels"] for t in threads]
        if eff:
            row += ["%.2f" % (ours[t1]["kernels"] * t1 / (ours[tn]["kernels"] * tn)),
                    "%.2f" % (ort[t1]["kernels"] * t1 / (ort[tn]["kernels"] * tn))]
        print("| **kernels** | %s |" % " | ".join(row))
        row = ["%.3f" % (ours[t]["total"] - ours[t]["kernels"]) for t in threads] + \
              ["%.3f" % (ort[t]["total"] - ort[t]["kernels"]) for t in threads]
        print("| outside kernels | %s |%s" % (" | ".join(row), " | |" if eff else ""))
        row = ["%.3f" % ours[t]["total"] for t in threads] + ["%.3f" % ort[t]["total"] for t in threads]
        print("| **whole inference** | %s |%s" % (" | ".join(row), " | |" if eff else ""))
        print("\npriortune: the steps timed one by one; outside kernels = the whole inference's median minus "
              "the steps' sum (negative: the steps alone ran slower than in sequence). ORT: model_run minus "
              "its nodes; session.run in Node added %s ms." %
              ", ".join("%.3f (%d thr)" % (ort[t]["session_run"] - ort[t]["total"], t) for t in threads))
        print("\npriortune's tuned steps (ms per inference): in sequence / warm / as the tuner stored them: " +
              "; ".join("%d thr %.3f / %.3f / %.3f" % (
                  t, sum(x["ms"] for x in ours[t]["steps"] if x["tuned"]),
                  sum(x["warm_ms"] for x in ours[t]["steps"] if x["tuned"]),
                  sum(x["stored_ms"] for x in ours[t]["steps"] if x["tuned"])) for t in threads))
        if eff:
            print("\npriortune steps by parallel efficiency at %d threads (t1 / (%d x t%d)), worst first, "
                  "steps over 1%% of the 1-thread time:\n" % (tn, tn, tn))
            print("| step | kernel | tuned | config | ms at %d thr | ms at %d thr | efficiency | warm ms at %d thr |"
                  % (t1, tn, tn))
            print("|---|---|---|---|---|---|---|---|")
            steps = []
            total1 = ours[t1]["kernels"]
            for a, b in zip(ours[t1]["steps"], ours[tn]["steps"]):
                if a["ms"] < 0.01 * total1:
                    continue
                steps.append((a["ms"] * t1 / (b["ms"] * tn), a, b))
            for e, a, b in sorted(steps, key=lambda x: x[0])[:12]:
                print("| %d | %s | %s | %s | %.3f | %.3f | %.2f | %.3f |" % (
                    a["step"], a["kernel"], "yes" if a["tuned"] else "no", a["config"] or "-", a["ms"], b["ms"], e,
                    b["warm_ms"]))
            for tuned in (True, False):
                sel = [(a["ms"], b["ms"]) for a, b in zip(ours[t1]["steps"], ours[tn]["steps"]) if a["tuned"] == tuned]
                if sel:
                    s1, s2 = sum(x for x, _ in sel), sum(y for _, y in sel)
                    print("\n%s steps: %d, %.3f ms at %d thr, %.3f ms at %d thr, efficiency %.2f" %
                          ("tuned" if tuned else "non-tuned", len(sel), s1, t1, s2, tn, s1 * t1 / (s2 * tn)), end="")
            print("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
