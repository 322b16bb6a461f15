#!/usr/bin/python3
"""Exports the models priortune's whole-model work is measured on to ONNX, from Debian's
python3-torchvision with random weights (weights=None: nothing is downloaded), and
writes a reference input and PyTorch's output beside each, for the import tests.

BatchNormalization nodes are kept in the graph (priortune folds them into the convs at
import), and their statistics and affine parameters are randomised with the seed, so
that folding them is not a no-op; weights initialised to zeros (ViT's head) are
randomised too, so that the output is not all zeros.

Usage: /usr/bin/python3 scripts/export_models.py [--out DIR] [--models resnet18,resnet50,mobilenet_v2,mnasnet0_5]
       [--seed 1] [--batch 1] [--size S]
Any model of torchvision.models.list_models(module=torchvision.models) may be named. Its
input is 3xSxS per image, S its weights' own crop size by default (224 for most,
inception_v3 299, the larger EfficientNets up to 600). A model over ONNX's 2 GB protobuf
limit is written with its weights as external data files beside the .onnx (the exporter
decides; the importer reads them).
Writes DIR/<model>.onnx, DIR/<model>.input.bin and DIR/<model>.output.bin (float32,
little-endian, NCHW) and DIR/<model>.json (shapes, the ops in the graph, the exporter's
versions, seconds). Exit 2 for bad usage, 1 if an export fails.
"""
import argparse
import json
import os
import sys
import time

MODELS = ["resnet18", "resnet50", "mobilenet_v2", "mnasnet0_5"]


def randomise_batchnorm(model, gen):
    import torch
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
            n = m.num_features
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)


def randomise_zero_weights(model, gen):
    """A weight of 2 or more axes initialised to zeros (ViT's classifier head and class
    token) gets small random values: a zero head makes every output 0, and the check
    against PyTorch would compare nothing. Models without one draw nothing from `gen`."""
    import torch
    for p in model.parameters():
        if p.dim() >= 2 and not p.detach().any():
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)


# Small models of the zoo's families for the test suite: a ConvNeXt of two stages of two
# blocks (the real ones take minutes in the reference runner), at 96x96.
REDUCED = {"convnext_reduced": 96}


def known_models():
    import torchvision
    return torchvision.models.list_models(module=torchvision.models) + list(REDUCED)


def input_size(name):
    """The crop size of the model's own weights' transforms (what it is evaluated at)."""
    import torchvision
    if name in REDUCED:
        return REDUCED[name]
    return int(torchvision.models.get_model_weights(name).DEFAULT.transforms().crop_size[0])


def build(name):
    import torchvision
    if name == "convnext_reduced":
        from torchvision.models.convnext import CNBlockConfig, ConvNeXt
        return ConvNeXt([CNBlockConfig(32, 64, 2), CNBlockConfig(64, None, 2)], stochastic_depth_prob=0.0)
    return torchvision.models.get_model(name, weights=None)


def make_model(name, seed, batch, size=None):
    """The model in eval mode with its random weights and the reference input, both
    from `seed`: what export() writes, and what scripts/torch_model_bench.py times."""
    import torch
    import torchvision
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build(name)
    randomise_batchnorm(model, gen)
    randomise_zero_weights(model, gen)
    model.eval()
    s = size or input_size(name)
    x = torch.randn(batch, 3, s, s, generator=gen)
    return model, x


def export(name, out, seed, batch, size=None):
    import onnx
    import torch
    import torchvision
    start = time.time()
    model, x = make_model(name, seed, batch, size)
    with torch.inference_mode():
        y = model(x)
    path = os.path.join(out, name + ".onnx")
    # TrainingMode.PRESERVE keeps BatchNormalization as nodes (EVAL would fold them into
    # the convs in the exporter); the model is in eval mode, so they use running stats.
    torch.onnx.export(model, x, path, opset_version=13, input_names=["input"], output_names=["output"],
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    x.numpy().astype("<f4").tofile(os.path.join(out, name + ".input.bin"))
    y.numpy().astype("<f4").tofile(os.path.join(out, name + ".output.bin"))
    graph = onnx.load(path, load_external_data=False).graph
    ops = sorted({n.op_type for n in graph.node})
    external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.initializer)
    meta = {"model": name, "input": list(x.shape), "output": list(y.shape), "ops": ops,
            "nodes": len(graph.node), "seed": seed, "torch": torch.__version__,
            "torchvision": torchvision.__version__, "onnx": onnx.__version__, "opset": 13,
            "external_data": external, "seconds": round(time.time() - start, 1)}
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
    print("%s: %d nodes, ops %s, %.1f MB" % (name, len(graph.node), " ".join(ops), os.path.getsize(path) / 1e6))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="models")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--size", type=int, default=0, help="input height and width (default: the model's own)")
    args = ap.parse_args()
    names = [m for m in args.models.split(",") if m]
    unknown = [m for m in names if m not in known_models()]
    if unknown or args.batch < 1 or args.size < 0:
        print("export_models: unknown model %s (see torchvision.models.list_models()) or batch < 1 or size < 0"
              % unknown, file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    failed = 0
    for name in names:
        try:
            export(name, args.out, args.seed, args.batch, args.size or None)
        except Exception as e:  # report every model, then fail
            print("%s: export failed: %s" % (name, e), file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
