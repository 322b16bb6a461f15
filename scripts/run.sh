#!/usr/bin/env bash
# The quick start's main job: install what is missing, build, then build, check and time
# a real operator with its default and hand-picked configs.
# Usage: scripts/run.sh [priortune bench args...]   (default: --op matmul --shape 512x512x512)
set -euo pipefail
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { echo "usage: $0 [priortune bench args...]" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
"$root/scripts/setup.sh" "$build"
if [[ $# -eq 0 ]]; then
  set -- --op matmul --shape 512x512x512
fi
exec timeout 900 "$build/server/priortune" bench "$@"
