#!/usr/bin/env bash
# Tuning efficiency with prior knowledge (issue 10) on the held-out shapes of
# scripts/efficiency_shapes.sh (none of them is in the corpus): random, ga, cold xgb-ga
# (this task's measurements only), xgb-ga with transfer from the corpus (a store holding
# it: --transfer auto), meta-ga (the meta-trained model adapted after every batch) and
# one-shot (the model's predictions only, 64 measured), several seeds each. The best known
# config of a shape is the best of every run of it in this study.
# Writes traces, logs and stores to bench-results/meta-efficiency/runs and prints the
# tables of scripts/meta_efficiency_report.py (which docs/meta-learning.md shows).
# Usage: scripts/meta_efficiency.sh [trials (200)] [seeds ("1 2 3")]
#   MODEL=file     the meta-trained model (default: the shipped data/models/<kind>.ptm of
#                  this host's kind, e.g. znver4-avx512, else the first shipped one)
#   CORPUS=file    the corpus transfer learns from (default: data/corpus/<kind>.jsonl.gz,
#                  else the first one)
#   STRATEGIES="xgb-ga meta-ga one-shot ga random transfer"   what to (re-)run; the other
#                  strategies' last runs are kept
#   OUT=dir        where runs and tables go (default bench-results/meta-efficiency)
#   REPORT_ONLY=1  redo the tables from the last traces
#   NO_OFFLINE=1   skip the offline metrics after the runs
#   OFFLINE_ONLY=1 only the offline metrics: the runs' records (transfer runs aside) in one
#                  store, and eval-model --neural on it for a jointly trained (pretrained)
#                  model and MODEL (meta-trained), k = 0, 8, 16, 32, 64, beside XGBoost and
#                  a neural model from scratch; written to offline.txt / offline.csv
# Needs a built tree (scripts/setup.sh). Benchmark alone on the machine.
set -euo pipefail
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { echo "usage: $0 [trials] [seeds]" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exe="${BUILD_DIR:-$root/build}/server/priortune"
trials="${1:-200}"
seeds="${2:-1 2 3}"
out="${OUT:-$root/bench-results/meta-efficiency}"
strategies="${STRATEGIES:-xgb-ga meta-ga one-shot ga random transfer}"
source "$root/scripts/efficiency_shapes.sh"  # shapes=("name op shape" ...) and names
source "$root/scripts/study_common.sh"       # describe_machine, tune_traced, shipped_file
model="${MODEL:-$(shipped_file "$root/data/models" ptm)}"
corpus="${CORPUS:-$(shipped_file "$root/data/corpus" jsonl.gz)}"
mkdir -p "$out/runs"

offline() {
  rm -f "$out/held-out.db"*
  for db in "$out"/runs/*.db; do
    [[ "$db" == *-transfer-* ]] && continue
    "$exe" export --db "$db" --out "$out/log.jsonl" 2>/dev/null
    "$exe" import "$out/log.jsonl" --db "$out/held-out.db" >/dev/null
  done
  rm -f "$out/log.jsonl"
  if [[ ! -f "$out/joint.ptm" ]]; then
    rm -f "$out/joint.db"*
    "$exe" train-model --db "$out/joint.db" --log "$corpus" --method joint --hold-out 0 --out "$out/joint.ptm" \
      >"$out/joint.txt"
  fi
  "$exe" eval-model --db "$out/held-out.db" --target "" --neural "$out/joint.ptm" "$model" --ks 0,8,16,32,64 \
    --repeats 3 --csv "$out/offline.csv" | tee "$out/offline.txt"
}

if [[ "${OFFLINE_ONLY:-0}" == 1 ]]; then
  offline
  exit 0
fi
if [[ "${REPORT_ONLY:-0}" != 1 ]]; then
  [[ -n "$model" && -f "$model" ]] || { echo "meta_efficiency: no model (MODEL=file or data/models/*.ptm)" >&2; exit 2; }
  describe_machine >"$out/machine.txt"
  echo "model: $model; corpus: $corpus" >>"$out/machine.txt"
  if [[ " $strategies " == *" transfer "* ]]; then
    # The history transfer learns from: the corpus, its feature cache filled once (eval-model
    # lowers every record and stores the features) so that the runs pay for it only once.
    rm -f "$out/history.db"*
    "$exe" import "$corpus" --db "$out/history.db" >&2
    "$exe" eval-model --db "$out/history.db" --target "" --neural "$model" --ks 0 --repeats 1 \
      >"$out/history.eval.txt" 2>&1 || true
  fi
  for strategy in $strategies; do
    for entry in "${shapes[@]}"; do
      read -r name op shape <<<"$entry"
      for seed in $seeds; do
        echo "== $name $strategy seed $seed" >&2
        run="$out/runs/$name-$strategy-$seed"
        rm -f "$run".*
        case "$strategy" in
          transfer) cp "$out/history.db" "$run.db"
                    tune_traced "$run.db" "$run.csv" "$op" "$shape" "$trials" xgb-ga "$seed" --transfer auto ;;
          xgb-ga)   tune_traced "$run.db" "$run.csv" "$op" "$shape" "$trials" xgb-ga "$seed" --transfer off ;;
          meta-ga|one-shot) tune_traced "$run.db" "$run.csv" "$op" "$shape" "$trials" "$strategy" "$seed" --model "$model" ;;
          *)        tune_traced "$run.db" "$run.csv" "$op" "$shape" "$trials" "$strategy" "$seed" ;;
        esac
      done
    done
  done
  [[ "${NO_OFFLINE:-0}" == 1 ]] || offline
fi
/usr/bin/python3 "$root/scripts/meta_efficiency_report.py" "$out" "$trials" "${names[@]}"
