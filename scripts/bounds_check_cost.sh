#!/usr/bin/env bash
# The cost of bounds-checked kernels: `priortune bench` of each suite shape's hand-picked
# config built plain and with --check-bounds, alternated, ROUNDS rounds (each bench is
# the median of 5 timing rounds); prints the median GFLOPS of each and their ratio.
# Usage: scripts/bounds_check_cost.sh [--rounds 3] [--threads 1] [--only name,name]
# Writes bench-results/bounds-check-cost.csv.
set -euo pipefail
usage() { echo "usage: $0 [--rounds N] [--threads N] [--only name,name]" >&2; exit 2; }
rounds=3 threads=1 only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) usage ;;
  esac
done
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
"$root/scripts/setup.sh" "$build"
exe="$build/server/priortune"
mkdir -p "$root/bench-results"
csv="$root/bench-results/bounds-check-cost.csv"
echo "shape,op,mode,round,gflops" > "$csv"
gflops() {  # the hand-picked line's GFLOPS of one bench run
  timeout 600 "$exe" bench "$@" | awk '/^  hand-picked [{]/ {getline; print $3}'
}
while read -r name op shape; do
  [[ -n "$only" && ",$only," != *",$name,"* ]] && continue
  for r in $(seq 1 "$rounds"); do
    for mode in plain checked; do
      flag=""
      [[ $mode == checked ]] && flag="--check-bounds"
      g=$(gflops --op "$op" --shape "$shape" --threads "$threads" $flag)
      echo "$name,$op,$mode,$r,$g" >> "$csv"
    done
  done
done < <("$build/scripts/bench/priortune_bench" --list)
python3 - "$csv" <<'EOF'
import csv, math, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
by = {}
for r in rows:
    by.setdefault(r["shape"], {}).setdefault(r["mode"], []).append(float(r["gflops"]))
ratios = []
print(f"{'shape':12} {'plain':>8} {'checked':>8} {'checked/plain':>14}")
for shape, m in by.items():
    p, c = statistics.median(m["plain"]), statistics.median(m["checked"])
    ratios.append(c / p)
    print(f"{shape:12} {p:8.1f} {c:8.1f} {c / p:14.3f}")
print(f"geometric mean checked/plain: {math.exp(sum(map(math.log, ratios)) / len(ratios)):.3f} "
      f"(min {min(ratios):.3f}, max {max(ratios):.3f})")
EOF
