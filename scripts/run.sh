#!/usr/bin/env bash
# The quick start's main job: install what is missing, build, then tune a real operator
# (embedded server + 2 local worker processes, SQLite store ./priortune.db) with meta-ga,
# which starts from the shipped meta-trained model (data/models/*.ptm) unless the store
# holds one for this target.
# Usage: scripts/run.sh [priortune tune args...]
#        (default: --op matmul --shape 512x512x512 --trials 200 --strategy meta-ga)
set -euo pipefail
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { echo "usage: $0 [priortune tune args...]" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
"$root/scripts/setup.sh" "$build"
if [[ $# -eq 0 ]]; then
  set -- --op matmul --shape 512x512x512 --trials 200 --strategy meta-ga
fi
exec timeout 3600 "$build/server/priortune" tune "$@"
