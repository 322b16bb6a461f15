#!/usr/bin/env bash
# Builds priortune (installing what is missing) and runs the whole test suite.
# Usage: scripts/test.sh [ctest args...]     e.g. scripts/test.sh -L unit
set -euo pipefail
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { echo "usage: $0 [ctest args...]" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
"$root/scripts/setup.sh" "$build"
cd "$build"
timeout 3600 ctest --output-on-failure --timeout 600 -j "$(nproc)" "$@"
