#!/usr/bin/python3
"""The torchvision zoo (issue 31): every model of torchvision.models.list_models(module=
torchvision.models) but the attention families, exported, imported, run and checked, one
at a time; --family attention (issue 32): the attention families (vit_*, swin_*,
maxvit_t) and the two token encoders scripts/encoders.py defines (bert_base, gpt2_small).

For each model, in its own processes: scripts/export_models.py exports it with random
weights (BatchNorm statistics randomised, kept as nodes) at its own input size, with
PyTorch's output on a random input; `priortune tasks` lists its tunable workloads;
`priortune run-model` compiles it with hand-picked configs (no store, no tuning) and runs
it on the same inputs at THREADS threads (its peak RSS from wait4); each output is compared
with PyTorch's: the max absolute error relative to max |output|, the worst output's. Then
the model's files are deleted (the whole zoo is tens of GB of ONNX).

Usage: /usr/bin/python3 scripts/zoo.py --priortune EXE [--family cnn|attention] [--work DIR] [--models a,b]
       [--results FILE] [--report docs/results/zoo.md] [--threads 1] [--repeat 5]
       [--tolerance 1e-4] [--resume] [--report-only]
Each model's result is appended to FILE (JSON lines) as it ends; --resume skips the
models FILE already has. The report is written from FILE at the end (--report-only: now,
from what FILE has, saying how many of the models it covers). Exit 2 for bad usage, 1
when fewer than 95% of the models match.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ATTENTION = re.compile(r"^(vit_|swin_|maxvit_)")
ENCODERS = ["bert_base", "gpt2_small"]


def run(cmd, timeout):
    """(exit code, stdout, stderr, seconds) of cmd; a timeout is exit code -9 with a note."""
    start = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout, p.stderr, time.time() - start
    except subprocess.TimeoutExpired:
        return -9, "", "timed out after %d s" % timeout, time.time() - start


def run_rss(cmd, timeout):
    """(exit code, stdout, stderr, peak RSS in MiB, seconds), the child reaped by wait4."""
    start = time.time()
    with open(os.devnull, "rb") as devnull:
        p = subprocess.Popen(cmd, stdin=devnull, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out_parts, err_parts = [], []
    readers = [threading.Thread(target=lambda s, acc: acc.append(s.read()), args=(p.stdout, out_parts)),
               threading.Thread(target=lambda s, acc: acc.append(s.read()), args=(p.stderr, err_parts))]
    for r in readers:
        r.start()
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    _, status, usage = os.wait4(p.pid, 0)
    timer.cancel()
    for r in readers:
        r.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, "".join(out_parts), "".join(err_parts), usage.ru_maxrss / 1024.0, time.time() - start


def last_line(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1] if lines else ""


def check_model(name, args):
    """One model end to end; a dict for the results file."""
    import numpy as np
    start = time.time()
    work = os.path.join(args.work, name)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    r = {"model": name, "imported": False, "match": False}
    try:
        code, out, err, secs = run([sys.executable, os.path.join(ROOT, "scripts", "export_models.py"),
                                    "--models", name, "--out", work], args.timeout)
        if code != 0:
            r["reason"] = "export failed: " + last_line(err)
            return r
        meta = json.load(open(os.path.join(work, name + ".json")))
        onnx_path = os.path.join(work, name + ".onnx")
        r.update({"input": next(iter(meta["inputs"].values()))["shape"], "nodes": meta["nodes"],
                  "export_s": round(secs, 1), "token_inputs": any(
                      t["dtype"] != "float32" for t in meta["inputs"].values()),
                  "external_data": meta.get("external_data", False),
                  "onnx_mb": round(sum(os.path.getsize(os.path.join(work, f)) for f in os.listdir(work)
                                       if not f.endswith(".bin") and not f.endswith(".json")) / 1e6, 1)})
        code, out, err, secs = run([args.priortune, "tasks", onnx_path], args.timeout)
        if code != 0:
            r["reason"] = last_line(err) or last_line(out)
            return r
        m = re.search(r"(\d+) distinct tasks", out)
        r["tasks"] = int(m.group(1)) if m else None
        io = []
        for k, t in meta["inputs"].items():
            io += ["--input", "%s=%s" % (k, os.path.join(work, t["file"]))]
        for k in meta["outputs"]:
            io += ["--output", "%s=%s" % (k, os.path.join(work, name + ".got." + k + ".bin"))]
        code, out, err, rss, secs = run_rss([args.priortune, "run-model", onnx_path, "--threads", str(args.threads),
                                             "--repeat", str(args.repeat)] + io, args.timeout)
        r["peak_rss_mb"] = round(rss, 1)
        r["run_s"] = round(secs, 1)
        if code != 0:
            r["reason"] = last_line(err) or last_line(out)
            return r
        r["imported"] = True
        m = re.search(r"total: ([0-9.]+) ms per inference", out)
        r["latency_ms"] = float(m.group(1)) if m else None
        err_rel = 0.0
        for k, t in meta["outputs"].items():
            ref = np.fromfile(os.path.join(work, t["file"]), dtype="<f4")
            y = np.fromfile(os.path.join(work, name + ".got." + k + ".bin"), dtype="<f4")
            if y.size != ref.size:
                r["reason"] = "output %s has %d values, PyTorch's %d" % (k, y.size, ref.size)
                return r
            scale = float(np.max(np.abs(ref))) or 1.0
            e = float(np.max(np.abs(y.astype(np.float64) - ref))) / scale if np.all(np.isfinite(y)) else float("inf")
            err_rel = max(err_rel, e)
        r["max_rel_error"] = err_rel
        r["match"] = err_rel <= args.tolerance
        if not r["match"]:
            r["reason"] = "max error %.3g of max |output| (tolerance %g)" % (err_rel, args.tolerance)
        return r
    finally:
        r["wall_s"] = round(time.time() - start, 1)
        shutil.rmtree(work, ignore_errors=True)


def cpu_name():
    info = open("/proc/cpuinfo").read()
    name = re.search(r"model name\s*:\s*(.*)", info).group(1)
    fam = re.search(r"cpu family\s*:\s*(\d+)", info).group(1)
    model = re.search(r"^model\s*:\s*(\d+)", info, re.M).group(1)
    isa = "AVX-512" if re.search(r"\bavx512f\b", info) else "AVX2"
    return "%s (family %s, model %s, %s), %d cores" % (name, fam, model, isa, os.cpu_count())


def report(results, args, wall):
    rows = sorted(results, key=lambda r: r["model"])
    ok = [r for r in rows if r["match"]]
    which = ("Every model of Debian's torchvision %s (`list_models(module=torchvision.models)`) but the attention "
             "families (vit_*, swin_*, maxvit_t)" % args.torchvision if args.family == "cnn" else
             "The attention families of Debian's torchvision %s (vit_*, swin_*, maxvit_t) and the two token "
             "encoders scripts/encoders.py defines (bert_base: 3 int64 inputs, 2 outputs; gpt2_small), "
             "`FAMILY=attention`" % args.torchvision)
    lines = ["# The torchvision zoo" + ("" if args.family == "cnn" else ": attention models and token encoders"), "",
             "Written by `scripts/zoo.sh` (scripts/zoo.py). %s, "
             "exported with random weights at its own input size, imported, compiled with hand-picked configs "
             "(no tuning) and run at %d thread(s) on the same inputs as PyTorch; the error is the max absolute "
             "difference over max |PyTorch's output| (the worst output's)." % (which, args.threads), "",
             "Host: %s; target %s." % (args.cpu, args.target), "",
             "**%d of %d match within %g** (%.1f%%). Run's wall time: %s." %
             (len(ok), len(rows), args.tolerance, 100.0 * len(ok) / max(1, len(rows)), wall), "",
             "| model | input | ONNX nodes | tasks | imported | max error / max \\|y\\| | latency ms | peak RSS MiB "
             "| ONNX MB | wall s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        size = ("seq %d" % r["input"][-1] if r.get("token_inputs") else
                "x".join(str(d) for d in r.get("input", [])[2:]) or "-")
        err = "%.2g" % r["max_rel_error"] if "max_rel_error" in r else "-"
        imported = "yes" if r["imported"] else "no: " + r.get("reason", "?").replace("|", "\\|")
        if r["imported"] and not r["match"]:
            imported = "yes, but " + r.get("reason", "?")
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s%s | %s |" % (
            r["model"], size, r.get("nodes", "-"), r.get("tasks", "-"), imported, err,
            "%.1f" % r["latency_ms"] if r.get("latency_ms") else "-",
            "%.0f" % r["peak_rss_mb"] if r.get("peak_rss_mb") else "-", r.get("onnx_mb", "-"),
            " (external data)" if r.get("external_data") else "", r.get("wall_s", "-")))
    os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
    with open(args.report, "w") as f:
        f.write("\n".join(lines) + "\n")
    return len(ok), len(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--priortune", required=True)
    ap.add_argument("--family", default="cnn", choices=["cnn", "attention"])
    ap.add_argument("--work", default="/tmp/priortune-zoo")
    ap.add_argument("--models", default="")
    ap.add_argument("--results", default="")
    ap.add_argument("--report", default=os.path.join(ROOT, "docs", "results", "zoo.md"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    import torchvision
    vision = torchvision.models.list_models(module=torchvision.models)
    everything = ([m for m in vision if not ATTENTION.match(m)] if args.family == "cnn" else
                  [m for m in vision if ATTENTION.match(m)] + ENCODERS)
    names = [m for m in args.models.split(",") if m] or everything
    bad = [m for m in names if m not in everything]
    if bad or args.threads < 1 or args.repeat < 1 or not os.access(args.priortune, os.X_OK):
        print("zoo: model %s not of the %s family, or bad --threads/--repeat/--priortune" % (bad, args.family),
              file=sys.stderr)
        return 2
    args.results = args.results or os.path.join(args.work, "results.jsonl")
    os.makedirs(args.work, exist_ok=True)
    done = {}
    if (args.resume or args.report_only) and os.path.exists(args.results):
        for line in open(args.results):
            r = json.loads(line)
            done[r["model"]] = r
    elif os.path.exists(args.results):
        os.remove(args.results)
    args.torchvision = torchvision.__version__
    args.cpu = cpu_name()
    args.target = subprocess.run([args.priortune, "target"], capture_output=True, text=True).stdout
    args.target = (re.search(r"^name\s+(.*)$", args.target, re.M) or re.search(r"(.*)", "?")).group(1)
    start = time.time()
    if args.report_only:
        results = [done[n] for n in names if n in done]
        ok, total = report(results, args, "%d of the %d models run so far (a partial report); the models' own "
                           "wall times sum to %.0f s" % (len(results), len(names),
                                                         sum(r.get("wall_s", 0) for r in results)))
        print("zoo: %d of %d run match within %g; report %s" % (ok, total, args.tolerance, args.report))
        return 0
    for name in names:
        if name in done:
            continue
        r = check_model(name, args)
        done[name] = r
        with open(args.results, "a") as f:
            f.write(json.dumps(r) + "\n")
        print("%-22s %s %s" % (name, "match" if r["match"] else "FAIL ", r.get("reason", "%.2g, %.1f ms" % (
            r.get("max_rel_error", 0), r.get("latency_ms") or 0))), flush=True)
    wall = time.time() - start
    results = [done[n] for n in names]
    wall_text = "%d min %d s (this invocation%s)" % (wall // 60, wall % 60, ", resumed" if args.resume else "")
    wall_text += "; the models' own wall times sum to %.0f s" % sum(r.get("wall_s", 0) for r in results)
    ok, total = report(results, args, wall_text)
    print("zoo: %d of %d match within %g; report %s" % (ok, total, args.tolerance, args.report))
    return 0 if ok >= 0.95 * total else 1


if __name__ == "__main__":
    sys.exit(main())
