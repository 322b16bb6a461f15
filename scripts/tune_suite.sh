#!/usr/bin/env bash
# Tunes every shape of the benchmark suite (shared/bench-suite.md, as `priortune_bench
# --list` prints it) into one store, then `scripts/bench.sh --db` times the stored bests.
# Resumable: the budget is per shape and counts what the store already holds, so running
# it again measures only what is missing (and a larger --trials tunes further).
# Usage: scripts/tune_suite.sh [--trials N (200)] [--db PATH (bench-results/suite.db)]
#                              [--only name,name] [-- extra priortune tune args]
set -euo pipefail
usage() { echo "usage: $0 [--trials N] [--db PATH] [--only names] [-- tune args...]" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
trials=200
db="$root/bench-results/suite.db"
only=""
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --trials) [[ $# -ge 2 ]] || usage; trials="$2"; shift 2 ;;
    --db) [[ $# -ge 2 ]] || usage; db="$2"; shift 2 ;;
    --only) [[ $# -ge 2 ]] || usage; only="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) usage ;;
    *) usage ;;
  esac
done
"$root/scripts/setup.sh" "$build"
mkdir -p "$(dirname "$db")"
list_args=(--list)
[[ -n "$only" ]] && list_args+=(--only "$only")
start=$(date +%s)
while read -r name op shape; do
  t0=$(date +%s)
  echo "== $name ($op $shape), budget $trials trials"
  timeout 7200 "$build/server/priortune" tune --op "$op" --shape "$shape" --trials "$trials" \
    --db "$db" --no-compare "${extra[@]}" 2>/dev/null | grep -E "trials \(|already tuned|best config|no correct" || true
  echo "   $(( $(date +%s) - t0 )) s"
done < <("$build/scripts/bench/priortune_bench" "${list_args[@]}")
echo "suite tuned into $db in $(( $(date +%s) - start )) s; time it with: bash scripts/bench.sh --db $db"
