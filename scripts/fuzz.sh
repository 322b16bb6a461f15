#!/usr/bin/env bash
# A long fuzz run of every template and the model kernels, as the memory-safety figures in
# docs/memory-safety.md were measured: CASES in all, a CHECKED share of them bounds-checked (another
# seed), 1 and 2 threads, the host's ISA and, on an AVX-512 host, AVX2 (x86-64-v3) too.
# Resumable: run it again with the same options after a kill and it goes on.
# Usage: scripts/fuzz.sh [--cases 20000] [--checked 0.3] [--jobs N] [-- priortune fuzz args...]
# Writes bench-results/fuzz-plain.jsonl and fuzz-checked.jsonl (failures) and their .progress.
set -euo pipefail
usage() { echo "usage: $0 [--cases N] [--checked SHARE] [--jobs N] [-- fuzz args...]" >&2; exit 2; }
cases=20000 checked=0.3 jobs="$(nproc)"
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cases) cases="$2"; shift 2 ;;
    --checked) checked="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) usage ;;
  esac
done
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
"$root/scripts/setup.sh" "$build"
exe="$build/server/priortune"
out="$root/bench-results"
mkdir -p "$out"
targets=(--target host)
grep -qw avx512f /proc/cpuinfo && targets+=(--target x86-64-v3)
n_checked=$(python3 -c "print(round($cases * $checked))")
n_plain=$((cases - n_checked))
grep -m1 "model name" /proc/cpuinfo
status=0
run() {  # name cases seed [flags...]
  local name="$1" n="$2" seed="$3"
  shift 3
  [[ "$n" -gt 0 ]] || return 0
  local resume=()
  [[ -f "$out/fuzz-$name.jsonl.progress" ]] && resume=(--resume)
  echo "== $name: $n cases, seed $seed"
  # A whole day at most: timeouts on anything that can hang.
  timeout 86400 "$exe" fuzz --cases "$n" --seed "$seed" --threads 1,2 "${targets[@]}" --jobs "$jobs" \
    --out "$out/fuzz-$name.jsonl" "${resume[@]}" "$@" "${extra[@]}" || status=$?
}
run plain "$n_plain" 1
run checked "$n_checked" 2 --check-bounds
exit "$status"
