#!/usr/bin/env bash
# Tuning efficiency: random vs GA search, several seeds, on real operators. For each shape
# it reports, per strategy and seed, the trials needed to reach 95% of the best
# performance found by any run of that shape, and the median per strategy.
# Usage: scripts/tuning_study.sh [trials] [seeds]     (default: 200 trials, seeds 1 2 3)
# Writes traces and a CSV to bench-results/tuning-study/. Needs a built tree (setup.sh).
# SUMMARY_ONLY=1 recomputes the summary from the traces of the last run.
set -euo pipefail
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { echo "usage: $0 [trials] [seeds]" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exe="${BUILD_DIR:-$root/build}/server/priortune"
trials="${1:-200}"
seeds="${2:-1 2 3}"
out="$root/bench-results/tuning-study"
mkdir -p "$out"

shapes=("matmul 512x512x512 square-512" "conv2d 128x128x28x3x1x1 r18-c4")
[[ "${SUMMARY_ONLY:-0}" == 1 ]] || rm -f "$out"/*.csv "$out"/*.db*
for entry in "${shapes[@]}"; do
  [[ "${SUMMARY_ONLY:-0}" == 1 ]] && break
  read -r op shape name <<<"$entry"
  for strategy in random ga; do
    for seed in $seeds; do
      echo "== $name $strategy seed $seed" >&2
      timeout 3600 "$exe" tune --op "$op" --shape "$shape" --trials "$trials" --strategy "$strategy" \
        --seed "$seed" --db "$out/$name-$strategy-$seed.db" --trace "$out/$name-$strategy-$seed.csv" \
        --no-compare --no-hand-picked-seed 2>/dev/null | grep -E "trials/s|best config" >&2
    done
  done
done

# Trials to reach X% of the best performance (cost <= best / X) of all runs of a shape,
# for X = 95% (the acceptance figure) and 99% (stricter: 95% is easy in small spaces).
summary="$out/summary.csv"
echo "shape,strategy,seed,trials_to_95,trials_to_99,run_best_ms" >"$summary"
for entry in "${shapes[@]}"; do
  read -r op shape name <<<"$entry"
  best=$(cat "$out/$name"-*.csv | awk -F, '$1 != "trial" && $3 != "inf" { if (b == "" || $3 + 0 < b + 0) b = $3 } END { print b }')
  for f in "$out/$name"-*.csv; do
    base=$(basename "$f" .csv)
    strategy=$(echo "$base" | awk -F- '{print $(NF-1)}')
    seed=$(echo "$base" | awk -F- '{print $NF}')
    awk -F, -v best="$best" -v name="$name" -v s="$strategy" -v seed="$seed" '
      NR > 1 && h95 == "" && $3 != "inf" && $3 + 0 <= best / 0.95 { h95 = $1 }
      NR > 1 && h99 == "" && $3 != "inf" && $3 + 0 <= best / 0.99 { h99 = $1 }
      NR > 1 && $3 != "inf" { last = $3 }
      END { printf "%s,%s,%s,%s,%s,%.4f\n", name, s, seed, (h95 == "" ? "never" : h95),
            (h99 == "" ? "never" : h99), last * 1000 }' "$f" >>"$summary"
  done
done
awk -F, '{ printf "%-11s %-9s %-5s %-13s %-13s %s\n", $1, $2, $3, $4, $5, $6 }' "$summary"
echo
median() { tr ' ' '\n' | grep -v '^$' | sed 's/never/999999/' | sort -n | awk '{ v[NR] = $1 } END { m = v[int((NR + 1) / 2)]; print (m == 999999 ? "never" : m) }'; }
echo "median trials to reach 95% / 99% of the best any run found (runs in brackets):"
for entry in "${shapes[@]}"; do
  read -r op shape name <<<"$entry"
  for strategy in random ga; do
    r95=$(awk -F, -v n="$name" -v s="$strategy" '$1 == n && $2 == s { printf "%s ", $4 }' "$summary")
    r99=$(awk -F, -v n="$name" -v s="$strategy" '$1 == n && $2 == s { printf "%s ", $5 }' "$summary")
    echo "  $name $strategy: 95%: $(echo "$r95" | median) [$r95]  99%: $(echo "$r99" | median) [$r99]"
  done
done
