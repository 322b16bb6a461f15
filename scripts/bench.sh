#!/usr/bin/env bash
# Builds and runs the benchmark suite of shared/bench-suite.md: priortune's hand-picked
# configs beside OpenBLAS, oneDNN and a naive loop nest, 1 and 2 threads, one run.
# Usage: scripts/bench.sh [priortune_bench args...]   e.g. --only square-1024,r18-c2
# Writes bench-results/bench.csv.
set -euo pipefail
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { echo "usage: $0 [priortune_bench args...]" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
"$root/scripts/setup.sh" "$build"
mkdir -p "$root/bench-results"
cd "$root"
# oneDNN and OpenBLAS threads must not spin while another implementation is timed.
export OMP_WAIT_POLICY=PASSIVE
exec timeout 3600 "$build/scripts/bench/priortune_bench" --csv bench-results/bench.csv "$@"
