#!/usr/bin/env bash
# Checks that a store written by an older priortune survives being opened by this one
# (issue 27: target keys gained the microarchitecture): on two copies of STORE, `lookup`
# of every workload of scripts/corpus_workloads.txt by OLD_EXE and by this build (level,
# config and cost must agree), the record counts of `export` before and after, and an
# export -> import -> export round trip (the same records under the same keys).
# Prints one line per workload and a summary; exit 1 on any difference.
# Usage: OLD_EXE=/path/to/old/priortune scripts/store_migration_check.sh STORE [--target T]
set -euo pipefail
usage() { echo "usage: OLD_EXE=old-priortune $0 STORE [--target T]" >&2; exit 2; }
[[ $# -ge 1 && "$1" != -h && "$1" != --help ]] || usage
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exe="${BUILD_DIR:-$root/build}/server/priortune"
old="${OLD_EXE:-}"
store="$1"
shift
target=host
[[ "${1:-}" == --target && $# -ge 2 ]] && target="$2"
[[ -x "$old" && -x "$exe" && -f "$store" ]] || usage
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$store" "$work/before.db"
cp "$store" "$work/after.db"
"$old" export --db "$work/before.db" --out "$work/before.jsonl" 2>/dev/null
differ=0
n=0
while read -r name op shape _; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  n=$((n + 1))
  a="$(timeout 120 "$old" lookup --op "$op" --shape "$shape" --db "$work/before.db" --target "$target" 2>&1 |
       grep -E '^  (level|cost):|: \{' | sed -E 's/ for [^:]+:/:/' || true)"
  b="$(timeout 120 "$exe" lookup --op "$op" --shape "$shape" --db "$work/after.db" --target "$target" 2>&1 |
       grep -E '^  (level|cost):|: \{' | sed -E 's/ for [^:]+:/:/' || true)"
  level="$(grep -oE 'level: .*' <<<"$b" || echo "level: none")"
  if [[ "$a" == "$b" && -n "$a" ]]; then
    echo "same  $name: $level"
  else
    echo "DIFF  $name:"; echo "  before: $a" | tr '\n' ' '; echo; echo "  after:  $b" | tr '\n' ' '; echo
    differ=$((differ + 1))
  fi
done <"$root/scripts/corpus_workloads.txt"
"$exe" export --db "$work/after.db" --out "$work/after.jsonl" 2>/dev/null
"$exe" import "$work/after.jsonl" --db "$work/fresh.db" >/dev/null
"$exe" export --db "$work/fresh.db" --out "$work/fresh.jsonl" 2>/dev/null
records_before=$(($(wc -l <"$work/before.jsonl") - 1))
records_after=$(($(wc -l <"$work/after.jsonl") - 1))
keys() { /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()[1:]]
for r in sorted((r["workload_key"], r["target_key"], r["config_hash"], r["timestamp"]) for r in rows): print(*r)' "$1"; }
round_trip=ok
cmp -s <(keys "$work/after.jsonl") <(keys "$work/fresh.jsonl") || round_trip=DIFFERENT
echo "workloads looked up: $n, answered the same: $((n - differ)), different: $differ"
echo "records: $records_before before, $records_after after; export -> import -> export: $round_trip"
echo "targets after: $(/usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()[1:]]
print(sorted({(json.loads(r["target"]) if isinstance(r["target"], str) else r["target"]).get("microarch", "-") for r in rows}))' "$work/after.jsonl")"
[[ $differ -eq 0 && $records_before -eq $records_after && $round_trip == ok ]]
