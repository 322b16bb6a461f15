#!/usr/bin/env bash
# Whole-model figures (issues 12 and 28): each model exported (scripts/export_models.py),
# tuned with tune-model's default budget for each thread count it is reported at (one
# store per model; the thread count is part of the target, so the counts do not share
# records), built with build-model for that count, and run by the example program
# (examples/run_model.cpp) beside ONNX Runtime (scripts/ort_bench.js: npm onnxruntime-node,
# CPU provider, all graph optimisations, intraOpNumThreads = threads) on the same ONNX file
# and input, and PyTorch (scripts/torch_model_bench.py, same weights and input; NCHW and
# channels_last), in alternated rounds (scripts/model_bench_rounds.py: medians, spreads,
# priortune / ORT speed per row, 1-to-2-thread scaling, peak RSS). Each library's output on
# the reference input is compared with PyTorch's.
# Usage: scripts/model_bench.sh [build-dir]
#   env MODELS="resnet18 resnet50 mobilenet_v2"  THREADS="1 2"  TRIALS= (tune-model's default:
#       64 per task)  REPEAT=50  ROUNDS=5  OUT=<build-dir>/model-bench
#       SKIP_TUNE=1 (reuse the stores)  NO_TORCH=1 (leave PyTorch out of the rounds)
#       LAYOUTS=1 (also time each library built with --layouts nchw)
# ONNX Runtime is a benchmark peer only: installed here, from npm, into <build-dir>/ort.
# Run nothing else meanwhile: 2 cores, and the timings must not overlap.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
exe="$build/server/priortune"
out="${OUT:-$build/model-bench}"
models=(${MODELS:-resnet18 resnet50 mobilenet_v2})
threads=(${THREADS:-1 2})
cxx="${CXX:-c++}"
mkdir -p "$out"
[[ -x "$exe" ]] || { echo "model_bench: build first ($exe missing)" >&2; exit 2; }

# ONNX Runtime from npm (--ignore-scripts: the package's install script only fetches GPU
# parts, from a host this machine cannot reach; the CPU library ships in the package).
ort_dir="$build/ort"
if [[ ! -f "$ort_dir/node_modules/onnxruntime-node/package.json" ]]; then
  if ! command -v npm > /dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
      DEBIAN_FRONTEND=noninteractive apt-get update
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm
    else
      echo "model_bench: npm is missing: apt-get install nodejs npm (as root)" >&2
      exit 2
    fi
  fi
  mkdir -p "$ort_dir"
  (cd "$ort_dir" && npm install --ignore-scripts --no-audit --no-fund onnxruntime-node@1.30.0)
fi
export ORT_NODE_PATH="$ort_dir"

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
family="$(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')"
model_no="$(grep -m1 '^model' /proc/cpuinfo | grep -v name | cut -d: -f2 | tr -d ' ')"
isa="AVX2"; grep -qw avx512f /proc/cpuinfo && isa="AVX-512"
echo "host: $cpu (family $family, model $model_no, $isa), $(nproc) cores; priortune target $("$exe" target | sed -n 's/^name //p')"

for m in "${models[@]}"; do
  [[ -f "$out/$m.onnx" ]] || /usr/bin/python3 "$root/scripts/export_models.py" --models "$m" --out "$out"
  [[ -z "${SKIP_TUNE:-}" ]] && rm -f "$out/$m.db"
  for t in "${threads[@]}"; do
    if [[ -z "${SKIP_TUNE:-}" ]]; then
      start=$SECONDS
      "$exe" tune-model "$out/$m.onnx" --db "$out/$m.db" --threads "$t" ${TRIALS:+--trials $TRIALS} |
        tee "$out/$m.tune-t$t.txt"
      echo "$m, $t thread(s): tune-model wall time $((SECONDS - start)) s" | tee -a "$out/$m.tune-t$t.txt"
    fi
    variants=("")
    [[ -n "${LAYOUTS:-}" ]] && variants+=("-nchw")
    for v in "${variants[@]}"; do
      "$exe" build-model "$out/$m.onnx" --db "$out/$m.db" --out "$out/$m$v-lib-t$t" --threads "$t" \
        ${v:+--layouts nchw} > "$out/$m.build$v-t$t.txt" 2>&1
      "$cxx" -O2 -std=c++17 "$root/examples/run_model.cpp" -I "$out/$m$v-lib-t$t" -L "$out/$m$v-lib-t$t" \
        -lpriortune_model -Wl,-rpath,"$out/$m$v-lib-t$t" -o "$out/$m$v-run-t$t"
    done
    grep -E "^(kernels|layouts):" "$out/$m.build-t$t.txt" | sed "s/^/$m, $t thread(s): /"
    # The library's outputs on the reference inputs (by name, from the export's .json)
    # against PyTorch's.
    io=($(/usr/bin/python3 - "$out" "$m" "$t" <<'PY'
import json, os, sys
d, m, t = sys.argv[1:]
meta = json.load(open(os.path.join(d, m + ".json")))
for k, v in meta["inputs"].items():
    print("--input %s=%s" % (k, os.path.join(d, v["file"])))
for k in meta["outputs"]:
    print("--output %s=%s" % (k, os.path.join(d, "%s.lib-%s-t%s.bin" % (m, k, t))))
PY
))
    "$out/$m-run-t$t" --repeat 1 "${io[@]}" > /dev/null
    /usr/bin/python3 - "$out" "$m" "$t" <<'PY'
import json, os, sys, numpy as np
d, m, t = sys.argv[1:]
for k, v in json.load(open(os.path.join(d, m + ".json")))["outputs"].items():
    a = np.fromfile(os.path.join(d, "%s.lib-%s-t%s.bin" % (m, k, t)), np.float32)
    b = np.fromfile(os.path.join(d, v["file"]), np.float32)
    print("%s, %s thread(s): output %s vs PyTorch: max |diff| %.3g of max |output| %.3g (%d values)" %
          (m, t, k, abs(a - b).max(), abs(b).max(), b.size))
PY
  done
done

/usr/bin/python3 "$root/scripts/model_bench_rounds.py" --dir "$out" --models "${models[*]}" \
  --threads "${threads[*]}" --repeat "${REPEAT:-50}" --rounds "${ROUNDS:-5}" \
  ${NO_TORCH:+--no-torch} ${LAYOUTS:+--layouts} | tee "$out/summary.txt"
