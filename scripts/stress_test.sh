#!/usr/bin/env bash
# Runs the whole test suite N times in a row while a busy loop runs on every core, to
# show the tests hold under load (no sleeps as synchronisation, a deadline on every wait).
# Usage: scripts/stress_test.sh [runs=20] [ctest args...]   (build first: scripts/setup.sh)
# Prints one line per run and a summary; exits 1 if any run failed.
set -euo pipefail
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { echo "usage: $0 [runs] [ctest args...]" >&2; exit 2; }
runs="${1:-20}"
shift || true
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
[[ -x "$build/server/priortune" ]] || { echo "build first: scripts/setup.sh" >&2; exit 2; }

load_pids=()
cleanup() { for p in "${load_pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for ((c = 0; c < $(nproc); c++)); do
  bash -c 'while :; do :; done' &
  load_pids+=("$!")
done

failed=0
start=$(date +%s)
for ((i = 1; i <= runs; i++)); do
  t0=$(date +%s)
  if (cd "$build" && timeout 1800 ctest --timeout 600 -j "$(nproc)" "$@" > "$build/stress-run-$i.log" 2>&1); then
    status=ok
  else
    status=FAILED
    failed=$((failed + 1))
  fi
  summary=$(grep -E "tests passed" "$build/stress-run-$i.log" || echo "no summary (hang or crash)")
  echo "run $i/$runs: $status in $(( $(date +%s) - t0 )) s: $summary"
  [[ $status == ok ]] && rm -f "$build/stress-run-$i.log"
done
echo "$runs runs under load on $(nproc) busy cores: $failed failed, $(( $(date +%s) - start )) s in all"
[[ $failed -eq 0 ]]
