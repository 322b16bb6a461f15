#!/usr/bin/env bash
# Tuning efficiency of the search strategies on bench-suite shapes (issue 9): random, ga,
# xgb-ga (model learned from this task only), xgb-ga with transfer from a store that
# holds the other shapes' records (guarded: --transfer auto), and the baseline AutoTVM
# uses (--transfer fade: the history model's weight halves every 64 samples). Several
# seeds each, plus one long run per shape; the best known config of a shape is the best
# of every run of it.
# Writes traces, stores, summary.csv, curves.csv and plots (PNG) to
# bench-results/tuning-efficiency/ and prints the tables docs/results/tuning-efficiency.md shows.
# Usage: scripts/tuning_efficiency.sh [trials] [seeds] [long-trials]
#        (default 200 trials, seeds "1 2 3", a 500-trial long run per shape)
# REPORT_ONLY=1 redoes the tables and plots from the last run's traces; SKIP_PHASE1=1
# keeps the runs without history and redoes only the transfer runs of TRANSFER_MODES
# (default "auto fade"); STRATEGIES (default "random ga xgb-ga") re-runs only those
# strategies without history and keeps the other ones' last runs (the long xgb-ga runs
# are re-run with xgb-ga).
# Needs a built tree (scripts/setup.sh); installs python3-matplotlib (apt) for the plots.
# Benchmark alone on the machine: nothing else may run while it measures.
set -euo pipefail
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { echo "usage: $0 [trials] [seeds] [long-trials]" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exe="${BUILD_DIR:-$root/build}/server/priortune"
trials="${1:-200}"
seeds="${2:-1 2 3}"
long_trials="${3:-500}"
out="$root/bench-results/tuning-efficiency"
mkdir -p "$out"

source "$root/scripts/efficiency_shapes.sh"  # shapes=("name op shape" ...) and names
source "$root/scripts/study_common.sh"       # describe_machine, tune_traced

transfer_modes="${TRANSFER_MODES:-auto fade}"
strategies="${STRATEGIES:-random ga xgb-ga}"
if [[ "${REPORT_ONLY:-0}" != 1 && "${SKIP_PHASE1:-0}" != 1 ]]; then
  mkdir -p "$out/runs"
  rm -rf "$out/history"
  for entry in "${shapes[@]}"; do
    read -r name _ _ <<<"$entry"
    for strategy in $strategies; do rm -f "$out/runs/$name-$strategy-"*; done
    if [[ " $strategies " == *" xgb-ga "* ]]; then rm -f "$out/runs/$name-long-"*; fi
  done
  describe_machine >"$out/machine.txt"
  # 1. Each strategy without history, every seed.
  for entry in "${shapes[@]}"; do
    read -r name op shape <<<"$entry"
    for strategy in $strategies; do
      for seed in $seeds; do
        echo "== $name $strategy seed $seed" >&2
        tune_traced "$out/runs/$name-$strategy-$seed.db" "$out/runs/$name-$strategy-$seed.csv" "$op" "$shape" \
          "$trials" "$strategy" "$seed" --transfer off
      done
    done
    # The long run: part of "best known", not of the medians.
    [[ " $strategies " == *" xgb-ga "* ]] || continue
    echo "== $name long xgb-ga ($long_trials trials)" >&2
    tune_traced "$out/runs/$name-long-0.db" "$out/runs/$name-long-0.csv" "$op" "$shape" "$long_trials" xgb-ga 100 \
      --transfer off
  done
fi
if [[ "${REPORT_ONLY:-0}" != 1 ]]; then
  # 2. Transfer: a store holding every record of the other shapes (all their runs).
  rm -rf "$out/history"
  mkdir -p "$out/history"
  for entry in "${shapes[@]}"; do
    read -r name op shape <<<"$entry"
    hist="$out/history/without-$name.db"
    for other in "${shapes[@]}"; do
      read -r oname _ _ <<<"$other"
      [[ "$oname" == "$name" ]] && continue
      for db in "$out/runs/$oname"-{random,ga,xgb-ga,long}-*.db; do  # not its transfer runs
        "$exe" export --db "$db" --out "$out/history/log.jsonl" 2>/dev/null
        "$exe" import "$out/history/log.jsonl" --db "$hist" >/dev/null
      done
    done
    rm -f "$out/history/log.jsonl"
    # Fill the store's feature cache once, as the first task on a shared store would
    # (the per-record lowering is then paid once, not by every transfer run), and print
    # the held-out metrics of this history.
    echo "== $name history: eval-model" >&2
    "$exe" eval-model --db "$hist" >"$out/history/without-$name.eval.txt" 2>&1 || true
    grep -E "features per|mean over" "$out/history/without-$name.eval.txt" | sed 's/^/    /' >&2 || true
    for mode in $transfer_modes; do
      run="transfer"
      [[ "$mode" == fade ]] && run="fade"
      for seed in $seeds; do
        echo "== $name xgb-ga with transfer $mode, seed $seed" >&2
        rm -f "$out/runs/$name-$run-$seed".db*
        cp "$hist" "$out/runs/$name-$run-$seed.db"
        tune_traced "$out/runs/$name-$run-$seed.db" "$out/runs/$name-$run-$seed.csv" "$op" "$shape" \
          "$trials" xgb-ga "$seed" --transfer "$mode"
      done
    done
  done
fi

# 3. Tables and plots.
if ! /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  timeout 900 "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends python3-matplotlib >/dev/null ||
    { timeout 900 "${sudo_cmd[@]}" apt-get update -q >/dev/null &&
      timeout 900 "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends python3-matplotlib >/dev/null; }
fi
/usr/bin/python3 "$root/scripts/tuning_efficiency_report.py" "$out" "$trials" "${names[@]}"
