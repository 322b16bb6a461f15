#!/usr/bin/env bash
# xgb-ga (no history) with another plan size on the six shapes of tuning_efficiency.sh,
# seeds 1-3, compared with that study's ga and xgb-ga runs on trials to 95% of the best
# known config (its runs and these; the study's xgb-ga runs use the default batch, 16).
# Run tuning_efficiency.sh first.
# Usage: scripts/xgb_batch_study.sh [batch] [trials]   (default 16, 200)
# Writes bench-results/xgb-b<batch>/ and prints the table docs/results/tuning-efficiency.md quotes.
# PAIR_SAMPLES=N runs with --model-pair-samples N (into bench-results/xgb-b<batch>-p<N>/).
set -euo pipefail
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { echo "usage: $0 [batch] [trials]" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exe="${BUILD_DIR:-$root/build}/server/priortune"
batch="${1:-16}"
trials="${2:-200}"
study="$root/bench-results/tuning-efficiency"
out="$root/bench-results/xgb-b$batch"
extra=()
if [[ -n "${PAIR_SAMPLES:-}" ]]; then out="$out-p$PAIR_SAMPLES"; extra=(--model-pair-samples "$PAIR_SAMPLES"); fi
[[ -f "$study/summary.csv" ]] || { echo "$0: run scripts/tuning_efficiency.sh first" >&2; exit 2; }
mkdir -p "$out"
source "$root/scripts/efficiency_shapes.sh"  # shapes=("name op shape" ...) and names, as the study's
for entry in "${shapes[@]}"; do
  read -r name op shape <<<"$entry"
  for seed in 1 2 3; do
    rm -f "$out/$name-$seed".db*
    timeout 3600 "$exe" tune --op "$op" --shape "$shape" --trials "$trials" --strategy xgb-ga --batch "$batch" \
      --transfer off --seed "$seed" --db "$out/$name-$seed.db" --trace "$out/$name-$seed.csv" --no-compare \
      --no-hand-picked-seed "${extra[@]}" >"$out/$name-$seed.log" 2>&1 || true
  done
done
/usr/bin/python3 - "$study" "$out" "${names[@]}" <<'PY'
import csv, glob, os, re, statistics, sys
study, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
best = {}
for r in csv.DictReader(open(os.path.join(study, "summary.csv"))):
    best[r["shape"]] = min(best.get(r["shape"], 1e9), float(r["run_best_ms"]) / 1e3)
def costs(p):
    return [float(r["cost_seconds"]) for r in csv.DictReader(open(p))]
runs = {}
for p in glob.glob(os.path.join(out, "*.csv")):
    name, seed = os.path.basename(p)[:-4].rsplit("-", 1)
    runs[(name, int(seed))] = costs(p)
    best[name] = min(best[name], min(runs[(name, int(seed))]))
def t95(c, b):
    return next((i + 1 for i, x in enumerate(c) if x <= b / 0.95), None)
med = lambda v: statistics.median([201 if x is None else x for x in v])
r_new, r_old = [], []
for name in names:
    b = best[name]
    g = [t95(costs(os.path.join(study, "runs", "%s-ga-%d.csv" % (name, s))), b) for s in (1, 2, 3)]
    x = [t95(costs(os.path.join(study, "runs", "%s-xgb-ga-%d.csv" % (name, s))), b) for s in (1, 2, 3)]
    n = [t95(runs[(name, s)], b) for s in (1, 2, 3)]
    logs = [open(os.path.join(out, "%s-%d.log" % (name, s))).read() for s in (1, 2, 3)]
    share = [100 * float(m.group(1)) / float(m.group(2)) for l in logs
             for m in [re.search(r"cost model: ([\d.]+) s of ([\d.]+) s", l)] if m]
    busy = [float(m.group(1)) for l in logs for m in [re.search(r"workers busy ([\d.]+)%", l)] if m]
    print("%s best known %.4f ms: ga %s (median %g), the study's xgb-ga %s (%g), this batch %s (%g); "
          "cost model %s%% of wall time, workers busy %s%%" % (name, b * 1e3, g, med(g), x, med(x), n, med(n),
          ["%.1f" % v for v in share], busy))
    if not (med(g) == 201 and med(n) == 201): r_new.append(med(n) / med(g))
    if not (med(g) == 201 and med(x) == 201): r_old.append(med(x) / med(g))
print("median over shapes, trials to 95%% / ga's: this batch %.2f %s; the study's xgb-ga %.2f %s" % (
    statistics.median(r_new), ["%.2f" % v for v in r_new], statistics.median(r_old), ["%.2f" % v for v in r_old]))
PY
