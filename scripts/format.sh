#!/usr/bin/env bash
# Formats the C++ sources with the pinned clang-format (Debian 12's clang-format-14, which
# scripts/setup.sh installs) and the checked-in .clang-format.
# Usage: scripts/format.sh           rewrite every tracked .cpp and .h
#        scripts/format.sh --check   rewrite nothing; list the files that differ, exit 1 if any
set -euo pipefail
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { echo "usage: $0 [--check]" >&2; exit 2; }
[[ $# -gt 1 || ( $# -eq 1 && "$1" != "--check" ) ]] && { echo "usage: $0 [--check]" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
clang_format=/usr/bin/clang-format-14
if [[ ! -x "$clang_format" ]]; then
  echo "format: $clang_format is missing (apt-get install clang-format-14, or run scripts/setup.sh)" >&2
  exit 2
fi
cd "$root"
mapfile -t files < <(git ls-files '*.cpp' '*.h')
if [[ "${1:-}" != "--check" ]]; then
  "$clang_format" -i --style=file "${files[@]}"
  exit 0
fi
differ=()
for f in "${files[@]}"; do
  if ! "$clang_format" --style=file "$f" | cmp -s - "$f"; then differ+=("$f"); fi
done
if [[ ${#differ[@]} -gt 0 ]]; then
  printf 'format: %s differs from clang-format-14 (run scripts/format.sh)\n' "${differ[@]}" >&2
  echo "format: ${#differ[@]} of ${#files[@]} files differ" >&2
  exit 1
fi
echo "format: ${#files[@]} files follow .clang-format (clang-format-14)"
