#!/usr/bin/python3
"""Times a torchvision model in PyTorch (Debian's python3-torch) with the weights and
input scripts/export_models.py exports (same seed): the peer of priortune's model
library in scripts/model_bench.sh.

Usage: /usr/bin/python3 scripts/torch_model_bench.py MODEL --threads N [--repeat 50] [--seed 1]
       [--channels-last]
Prints one JSON line: model, threads, layout, median_ms, min_ms, repeat, torch version.
torch.inference_mode, torch.set_num_threads(N), one inter-op thread, 5 warm-up runs.
--channels-last converts the model and input to torch.channels_last (NHWC), the layout
PyTorch's oneDNN convolutions prefer; the default is PyTorch's default (NCHW).
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_models import make_model  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--channels-last", action="store_true")
    args = ap.parse_args()
    if args.threads < 1 or args.repeat < 1:
        print("torch_model_bench: --threads and --repeat must be at least 1", file=sys.stderr)
        return 2
    import torch
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    model, x = make_model(args.model, args.seed, 1)
    if isinstance(x, dict):  # a token encoder: its named inputs (channels_last means nothing to it)
        if args.channels_last:
            print("torch_model_bench: --channels-last is for image models", file=sys.stderr)
            return 2
        inputs = x
        model = (lambda m: lambda _: m(**inputs))(model)
    elif args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        for _ in range(5):
            model(x)
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1e3)
    layout = "channels_last" if args.channels_last else "nchw"
    print(json.dumps({"model": args.model, "threads": args.threads, "layout": layout,
                      "median_ms": statistics.median(times),
                      "min_ms": min(times), "repeat": args.repeat, "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
