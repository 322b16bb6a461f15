#!/usr/bin/env bash
# The shipped meta-trained model (issue 10): data/models/<corpus>.ptm, meta-trained on every
# workload of a committed corpus (data/corpus/<corpus>.jsonl.gz, default this host's kind,
# e.g. emeraldrapids-avx512; the evaluation's
# workloads are not in it). First a run that holds out a fifth of the corpus's workloads,
# for the few-shot metrics; then the model itself, on all of them. train-model prints the
# training time, the process's peak memory and the inference time; the runs' output goes
# to bench-results/models/<corpus>.{heldout,final}.txt.
# Usage: scripts/train_shipped_model.sh [corpus.jsonl.gz] [-- extra train-model args]
set -euo pipefail
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { echo "usage: $0 [corpus.jsonl.gz] [-- train-model args]" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exe="${BUILD_DIR:-$root/build}/server/priortune"
source "$root/scripts/study_common.sh"  # shipped_file
corpus="$(shipped_file "$root/data/corpus" jsonl.gz)"
if [[ $# -gt 0 && "$1" != "--" ]]; then corpus="$1"; shift; fi
[[ "${1:-}" == "--" ]] && shift
[[ -n "$corpus" && -f "$corpus" ]] || { echo "train_shipped_model: no corpus (data/corpus/*.jsonl.gz)" >&2; exit 2; }
name="$(basename "$corpus" .jsonl.gz)"
out="$root/bench-results/models"
mkdir -p "$out" "$root/data/models"
run() {  # label hold-out [args...]
  local label="$1" hold="$2"
  shift 2
  rm -f "$out/$name.$label.db"*
  echo "== train-model ($label, hold-out $hold)" >&2
  local t0
  t0=$(date +%s)
  timeout 7200 "$exe" train-model --db "$out/$name.$label.db" --log "$corpus" --hold-out "$hold" "$@" |
    tee "$out/$name.$label.txt"
  echo "  ($label: $(( $(date +%s) - t0 )) s in all, import and features included)"
}
run heldout 0.2 "$@"
run final 0 --out "$root/data/models/$name.ptm" "$@"
