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
Any model of torchvision.models.list_models(module=torchvision.models) may be named, or
one of the token-input encoders of scripts/encoders.py (bert_base, gpt2_small and their
tiny test versions). An image model's input is 3xSxS per image, S its weights' own crop size by default (224 for most,
inception_v3 299, the larger EfficientNets up to 600). A model over ONNX's 2 GB protobuf
limit is written with its weights as external data files beside the .onnx (the exporter
decides; the importer reads them).
Writes DIR/<model>.onnx, DIR/<model>.input.bin and DIR/<model>.output.bin (float32,
little-endian, NCHW; an encoder: DIR/<model>.<input name>.bin in the input's dtype, int64,
and DIR/<model>.<output name>.bin per output, float32) and DIR/<model>.json (shapes, the ops in the graph, the exporter's
versions, seconds). Exit 2 for bad usage, 1 if an export fails.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import encoders  # noqa: E402

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
    return torchvision.models.list_models(module=torchvision.models) + list(REDUCED) + list(encoders.CONFIGS)


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
    from `seed`: what export() writes, and what scripts/torch_model_bench.py times. The
    input is a tensor, or for an encoder a dict of named int64 tensors."""
    import torch
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = encoders.build(name) if name in encoders.CONFIGS else build(name)
    randomise_batchnorm(model, gen)
    randomise_zero_weights(model, gen)
    model.eval()
    if name in encoders.CONFIGS:
        return model, encoders.inputs(name, batch, gen)
    # A ViT built without weights takes its own image_size (vit_h_14: 224), whatever
    # crop its default weights were trained at (518).
    s = size or getattr(model, "image_size", None) or input_size(name)
    x = torch.randn(batch, 3, s, s, generator=gen)
    return model, x


def io_files(name, x, y):
    """{file suffix: tensor} of the reference input(s) and output(s): input / output for an
    image model, each input's and output's name for an encoder."""
    if not isinstance(x, dict):
        return {"input": x, "output": y}
    ys = y if isinstance(y, tuple) else (y,)
    return {**x, **dict(zip(encoders.output_names(name), ys))}


def register_zero_symbolic():
    """aten::zero (Swin v2 zeroes the key's third of its qkv bias: `qkv_bias[length:2 *
    length].zero_()`) has no ONNX symbolic in torch 1.13: export it as a product with 0,
    which the importer folds (the bias is a weight). PyTorch's own output is the check that
    the exported graph computes the same."""
    import torch

    def zero(g, self):
        return g.op("Mul", self, g.op("Constant", value_t=torch.tensor(0.0)))
    torch.onnx.register_custom_op_symbolic("aten::zero", zero, 13)


def export(name, out, seed, batch, size=None):
    import onnx
    import torch
    import torchvision
    start = time.time()
    register_zero_symbolic()
    model, x = make_model(name, seed, batch, size)
    args = tuple(x.values()) if isinstance(x, dict) else x
    with torch.inference_mode():
        y = model(*args) if isinstance(x, dict) else model(x)
    path = os.path.join(out, name + ".onnx")
    names = (list(x), encoders.output_names(name)) if isinstance(x, dict) else (["input"], ["output"])
    # TrainingMode.PRESERVE keeps BatchNormalization as nodes (EVAL would fold them into
    # the convs in the exporter); the model is in eval mode, so they use running stats.
    torch.onnx.export(model, args, path, opset_version=13, input_names=names[0], output_names=names[1],
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    files = io_files(name, x, y)
    for suffix, t in files.items():
        t.numpy().astype("<i8" if t.dtype == torch.int64 else "<f4").tofile(os.path.join(out, "%s.%s.bin" % (name, suffix)))
    graph = onnx.load(path, load_external_data=False).graph
    ops = sorted({n.op_type for n in graph.node})
    external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.initializer)
    tensors = {k: {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
                   "file": "%s.%s.bin" % (name, k)} for k, t in files.items()}
    meta = {"model": name, "inputs": {k: tensors[k] for k in names[0]},
            "outputs": {k: tensors[k] for k in names[1]}, "ops": ops,
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
