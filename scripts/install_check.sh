#!/usr/bin/env bash
# The install, checked end to end. `cmake --install BUILD --prefix P` into a temporary
# prefix; then, in a private mount namespace where the source and build trees are hidden
# under empty folders, the installed priortune runs the smoke commands: tune (a small shape,
# a few trials), lookup, a one-shot tune that must find the shipped meta model under
# P/share/priortune, tasks and build-model on a small ONNX model, and the library it writes
# run by the installed example program through its C API. Also: no source or build path
# is baked into the executable.
#
# Usage: install_check.sh --build BUILD_DIR            install from a build tree, then check
#        install_check.sh --installed PREFIX           check an existing install (the .deb: /usr)
# Runs as root (mount namespaces). Exit 0 when every step holds, 1 naming the step that did
# not, 2 for bad arguments.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(dirname "$here")"
build="" prefix=""
case "${1:-}" in
  --build) build="$(cd "${2:?--build BUILD_DIR}" && pwd)" ;;
  --installed) prefix="${2:?--installed PREFIX}" ;;
  *) echo "usage: $0 --build BUILD_DIR | --installed PREFIX" >&2; exit 2 ;;
esac

work="$(mktemp -d /tmp/priortune-install.XXXXXX)"
trap 'rm -rf "$work"' EXIT
fail() { echo "install_check: FAILED: $*" >&2; exit 1; }

if [[ -n "$build" ]]; then
  prefix="$work/prefix"
  cmake --install "$build" --prefix "$prefix" > "$work/install.log" || fail "cmake --install: $(tail -5 "$work/install.log")"
fi
exe="$prefix/bin/priortune"
[[ -x "$exe" ]] || fail "no executable $exe"
for f in lib/priortune/libpt_deploy.a include/priortune/priortune_model.h share/priortune/examples/run_model.cpp; do
  [[ -f "$prefix/$f" ]] || fail "the install lacks $f"
done
ls "$prefix"/share/priortune/models/*.ptm > /dev/null 2>&1 || fail "the install lacks the shipped models"
ls "$prefix"/share/priortune/corpus/*.jsonl.gz > /dev/null 2>&1 || fail "the install lacks the corpus"

# No path of the source or build tree in the executable.
for tree in "$src" ${build:+"$build"}; do
  if strings "$exe" | grep -qF "$tree"; then fail "the executable holds the path $tree"; fi
done

# A small ONNX model: conv 3x3 + relu, conv 1x1, global average pool, flatten, dense.
/usr/bin/python3 - "$work/small.onnx" <<'EOF'
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
rng = np.random.default_rng(1)
def w(name, *shape):
    return numpy_helper.from_array(rng.uniform(-1, 1, shape).astype(np.float32), name)
nodes = [
    helper.make_node('Conv', ['x', 'w1', 'b1'], ['c1'], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    helper.make_node('Relu', ['c1'], ['r1']),
    helper.make_node('Conv', ['r1', 'w2'], ['c2'], kernel_shape=[1, 1]),
    helper.make_node('GlobalAveragePool', ['c2'], ['p']),
    helper.make_node('Flatten', ['p'], ['f']),
    helper.make_node('Gemm', ['f', 'w3', 'b3'], ['y'], transB=1),
]
graph = helper.make_graph(nodes, 'small', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 8, 16, 16])],
                          [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 10])],
                          [w('w1', 16, 8, 3, 3), w('b1', 16), w('w2', 16, 16, 1, 1), w('w3', 10, 16), w('b3', 10)])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
model.ir_version = 7
onnx.checker.check_model(model)
onnx.save(model, sys.argv[1])
EOF

# The smoke commands, with the trees hidden: empty folders mounted over them.
cat > "$work/smoke.sh" <<EOF
set -euo pipefail
for tree in ${build:+"$build"} "$src"; do  # the build tree first: it may lie inside the source tree
  mount -t tmpfs -o size=1m priortune-hidden "\$tree"
done
for tree in ${build:+"$build"} "$src"; do
  [[ ! -d "\$tree" || -z "\$(ls -A "\$tree")" ]] || { echo "STEP hide: \$tree still visible"; exit 1; }
done
cd "$work"
step() { echo "STEP \$1"; }
step tune
"$exe" tune --op matmul --shape 32x32x32 --trials 8 --db smoke.db --no-compare > tune.out 2>&1 || { cat tune.out; exit 1; }
grep -q "best config" tune.out || { cat tune.out; exit 1; }
step lookup
"$exe" lookup --op matmul --shape 32x32x32 --db smoke.db > lookup.out 2>&1 || { cat lookup.out; exit 1; }
grep -q "level: exact target" lookup.out || { cat lookup.out; exit 1; }
step one-shot
"$exe" tune --op matmul --shape 48x48x48 --trials 8 --strategy one-shot --db smoke.db --no-compare > oneshot.out 2>&1 \
  || { cat oneshot.out; exit 1; }
grep -qE "^meta model: shipped model $prefix/share/priortune/models/[^ ]+\.ptm \\(" oneshot.out || { cat oneshot.out; exit 1; }
step tasks
"$exe" tasks small.onnx > tasks.out 2>&1 || { cat tasks.out; exit 1; }
grep -q "distinct tasks" tasks.out || { cat tasks.out; exit 1; }
step build-model
"$exe" build-model small.onnx --db smoke.db --out lib > build.out 2>&1 || { cat build.out; exit 1; }
[[ -f lib/libpriortune_model.so && -f lib/priortune_model.h ]] || { cat build.out; ls lib; exit 1; }
step example
c++ -O2 -std=c++17 "$prefix/share/priortune/examples/run_model.cpp" -I lib -L lib -lpriortune_model \
  -Wl,-rpath,"$work/lib" -o run_model > example.out 2>&1 || { cat example.out; exit 1; }
./run_model --repeat 2 > run.out 2>&1 || { cat run.out; exit 1; }
grep -q "ms per inference" run.out || { cat run.out; exit 1; }
step done
EOF
out="$(unshare --mount --propagation private bash "$work/smoke.sh" 2>&1)" || fail "$(echo "$out" | grep '^STEP' | tail -1): $out"
echo "$out" | grep -q "^STEP done" || fail "the smoke run ended early: $out"
echo "install_check: $exe ran tune, lookup, one-shot (shipped model found), tasks, build-model and the example with the source and build trees hidden"
