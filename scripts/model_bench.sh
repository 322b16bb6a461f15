#!/usr/bin/env bash
# Whole-model figures (issue 12): each model exported (scripts/export_models.py), tuned
# with tune-model's default budget into a fresh store (wall time and each task's share
# printed), built with build-model for 1 and 2 threads, and run by the example program
# (examples/run_model.cpp) beside PyTorch (scripts/torch_model_bench.py, same weights,
# same input, same threads; in its default NCHW layout and in channels_last), alternating
# them 3 times per thread count; the library's
# output on the reference input is compared with PyTorch's. Each library is built twice:
# with the default NCHWc propagation and with --layouts nchw (every tensor NCHW, the
# build before propagation), timed in the same rounds.
# Usage: scripts/model_bench.sh [build-dir]
#   env MODELS="resnet18 mobilenet_v2"  TRIALS= (tune-model's default: 64 per task)
#       THREADS="1 2"  REPEAT=50  ROUNDS=3  OUT=<build-dir>/model-bench  SKIP_TUNE=1 (reuse the stores)
# Run nothing else meanwhile: 2 cores, and the timings must not overlap.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
exe="$build/server/priortune"
out="${OUT:-$build/model-bench}"
models=(${MODELS:-resnet18 mobilenet_v2})
threads=(${THREADS:-1 2})
repeat="${REPEAT:-50}"
rounds="${ROUNDS:-3}"
cxx="${CXX:-c++}"
mkdir -p "$out"
[[ -x "$exe" ]] || { echo "model_bench: build first ($exe missing)" >&2; exit 2; }

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
family="$(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')"
model_no="$(grep -m1 '^model' /proc/cpuinfo | grep -v name | cut -d: -f2 | tr -d ' ')"
isa="AVX2"; grep -qw avx512f /proc/cpuinfo && isa="AVX-512"
echo "host: $cpu (family $family, model $model_no, $isa), $(nproc) cores"

for m in "${models[@]}"; do
  [[ -f "$out/$m.onnx" ]] || /usr/bin/python3 "$root/scripts/export_models.py" --models "$m" --out "$out"
  if [[ -z "${SKIP_TUNE:-}" ]]; then
    rm -f "$out/$m.db"
    start=$SECONDS
    "$exe" tune-model "$out/$m.onnx" --db "$out/$m.db" ${TRIALS:+--trials $TRIALS} | tee "$out/$m.tune.txt"
    echo "$m: tune-model wall time $((SECONDS - start)) s" | tee -a "$out/$m.tune.txt"
  fi
  for t in "${threads[@]}"; do
    "$exe" build-model "$out/$m.onnx" --db "$out/$m.db" --out "$out/$m-lib-t$t" --threads "$t" > "$out/$m.build-t$t.txt"
    grep "^kernels:" "$out/$m.build-t$t.txt" | sed "s/^/$m, $t thread(s): /"
    grep "^layouts:" "$out/$m.build-t$t.txt" | sed "s/^/$m, $t thread(s): /"
    "$exe" build-model "$out/$m.onnx" --db "$out/$m.db" --out "$out/$m-nchw-lib-t$t" --threads "$t" --layouts nchw \
      > "$out/$m.build-nchw-t$t.txt"
    for v in "" "-nchw"; do
      "$cxx" -O2 -std=c++17 "$root/examples/run_model.cpp" -I "$out/$m$v-lib-t$t" -L "$out/$m$v-lib-t$t" \
        -lpriortune_model -Wl,-rpath,"$out/$m$v-lib-t$t" -o "$out/$m$v-run-t$t"
    done
  done
  # The library's output on the reference input against PyTorch's.
  "$out/$m-run-t1" --repeat 1 --input "$out/$m.input.bin" --output "$out/$m.lib-output.bin" > /dev/null
  /usr/bin/python3 - "$out/$m.lib-output.bin" "$out/$m.output.bin" <<'PY'
import sys, numpy as np
a = np.fromfile(sys.argv[1], np.float32); b = np.fromfile(sys.argv[2], np.float32)
print("output vs PyTorch: max |diff| %.3g of max |output| %.3g (%d values)" % (abs(a - b).max(), abs(b).max(), b.size))
PY
done

csv="$out/latency.csv"
echo "model,threads,round,priortune_ms,priortune_nchw_ms,pytorch_ms,pytorch_channels_last_ms" > "$csv"
for m in "${models[@]}"; do
  for t in "${threads[@]}"; do
    for r in $(seq 1 "$rounds"); do
      ours=$("$out/$m-run-t$t" --threads "$t" --repeat "$repeat" | sed -n 's/.*: \([0-9.]*\) ms per inference.*/\1/p')
      nchw=$("$out/$m-nchw-run-t$t" --threads "$t" --repeat "$repeat" | sed -n 's/.*: \([0-9.]*\) ms per inference.*/\1/p')
      theirs=$(/usr/bin/python3 "$root/scripts/torch_model_bench.py" "$m" --threads "$t" --repeat "$repeat" |
               /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])')
      nhwc=$(/usr/bin/python3 "$root/scripts/torch_model_bench.py" "$m" --threads "$t" --repeat "$repeat" --channels-last |
             /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])')
      echo "$m,$t,$r,$ours,$nchw,$theirs,$nhwc" >> "$csv"
    done
  done
done
/usr/bin/python3 - "$csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("%-14s %7s %13s %18s %12s %20s %22s" % ("model", "threads", "priortune ms", "priortune NCHW ms",
                                              "PyTorch ms", "PyTorch NHWC ms", "speedup vs faster"))
for key in sorted({(r["model"], int(r["threads"])) for r in rows}):
    sel = [r for r in rows if (r["model"], int(r["threads"])) == key]
    ours = statistics.median(float(r["priortune_ms"]) for r in sel)
    nchw = statistics.median(float(r["priortune_nchw_ms"]) for r in sel)
    theirs = statistics.median(float(r["pytorch_ms"]) for r in sel)
    nhwc = statistics.median(float(r["pytorch_channels_last_ms"]) for r in sel)
    print("%-14s %7d %13.3f %18.3f %12.3f %20.3f %21.2fx" % (key[0], key[1], ours, nchw, theirs, nhwc,
                                                           min(theirs, nhwc) / ours))
PY
