#!/usr/bin/env bash
# The tuning service's Lookup load benchmark (not a test): a store of 100,000 records of
# 500 real matmul workloads, `priortune serve` on loopback, and priortune_lookup_load
# calling Lookup for random workloads at concurrency 1, 8 and 32, closed loop (as fast as
# each client's answers come) and open loop at a fixed total rate; then the same while a
# tuning job writes to the store (one worker measuring, a batch stored every few
# seconds). Each point is the median of REPEATS runs of SECONDS each.
# STORES lists the stores to run, one after the other on the same machine: sqlite (a
# file in the out dir) and postgresql (a throwaway cluster, scripts/pg_cluster.sh, on
# loopback). Each gets out-dir/<store>/ (lookup.csv, summary.md, writes.txt); with both,
# out-dir/compare.md sets them side by side.
# Usage: scripts/lookup_bench.sh [out-dir]   (default bench-results/lookup)
#        env: STORES="sqlite postgresql" SECONDS_PER_RUN=10 REPEATS=3 RATE=1000
#             RECORDS=100000 WRITING=1 (0: skip the phase with a tuning job writing)
# On a 2-core machine the server, the load generator (and the worker, and PostgreSQL)
# share the cores: the figures are a floor for a server with cores of its own.
set -euo pipefail
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { echo "usage: $0 [out-dir]" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
out="${1:-$root/bench-results/lookup}"
seconds="${SECONDS_PER_RUN:-10}"
repeats="${REPEATS:-3}"
rate="${RATE:-1000}"
records="${RECORDS:-100000}"
stores="${STORES:-sqlite postgresql}"
writing="${WRITING:-1}"
exe="$build/server/priortune"
load="$build/scripts/bench/priortune_lookup_load"
source "$root/scripts/study_common.sh"
"$root/scripts/setup.sh" "$build" >/dev/null
mkdir -p "$out"
out="$(cd "$out" && pwd)"
describe_machine >"$out/machine.txt"

server=""
worker=""
pg_dir=""
cleanup() {
  [[ -n "$worker" ]] && kill "$worker" 2>/dev/null || true
  [[ -n "$server" ]] && kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  if [[ -n "$pg_dir" ]]; then
    bash "$root/scripts/pg_cluster.sh" stop "$pg_dir/c" || true
    rm -rf "$pg_dir"
  fi
}
trap cleanup EXIT

db=""
dir=""
count_records() {
  case "$db" in
    postgresql://*) psql -X -A -t -d "$db" -c "SELECT COUNT(*) FROM records" ;;
    *) /usr/bin/python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM records').fetchone()[0])" "$db" ;;
  esac
}

run_phase() {
  local phase="$1" csv="$dir/lookup.csv" line
  for r in $(seq "$repeats"); do
    for c in 1 8 32; do
      for rt in 0 "$rate"; do
        line="$(timeout 600 "$load" run --server "127.0.0.1:$port" --concurrency "$c" --seconds "$seconds" --rate "$rt")"
        echo "$phase,$r,$line" | tee -a "$csv"
      done
    done
  done
}

# bench_store KIND: both phases against one store, into $out/KIND.
bench_store() {
  local kind="$1"
  dir="$out/$kind"
  mkdir -p "$dir"
  case "$kind" in
    sqlite) db="$dir/lookup.db" ;;
    postgresql)
      # The cluster lives in /tmp (its owner, postgres, must reach it), one per run.
      pg_dir="$(mktemp -d /tmp/priortune-lookup-pg-XXXXXX)"
      chmod 0755 "$pg_dir"
      db="$(bash "$root/scripts/pg_cluster.sh" start "$pg_dir/c" $((30000 + $$ % 20000)))"
      ;;
    *) echo "lookup_bench: unknown store '$kind' (sqlite, postgresql)" >&2; exit 2 ;;
  esac
  if [[ "$kind" == postgresql || ! -f "$db" ]]; then
    local t0=$SECONDS
    timeout 1800 "$load" populate --db "$db" --records "$records" | tee "$dir/populate.txt"
    echo "populate took $((SECONDS - t0)) s" | tee -a "$dir/populate.txt"
  fi
  start_serve "$db" 0 "$dir/serve" --log-level warn
  echo "phase,repeat,concurrency,rate,requests,errors,misses,throughput,p50_ms,p90_ms,p99_ms,max_ms" >"$dir/lookup.csv"

  run_phase idle

  if [[ "$writing" == 1 ]]; then
    # A tuning job writing to the store meanwhile: one worker, a long budget.
    timeout 7200 "$exe" worker --server "127.0.0.1:$port" --cpu 1 --repeat 2 --min-repeat-ms 5 >"$dir/worker.log" 2>&1 &
    worker=$!
    "$exe" submit --server "127.0.0.1:$port" --workload matmul:256x256x256 --trials 100000 --batch 8 \
      --name lookup-bench-writer >"$dir/submit.txt"
    local job before after
    job="$(sed -n 's/job \([0-9]*\) submitted/\1/p' "$dir/submit.txt")"
    before="$(count_records)"
    run_phase writing
    after="$(count_records)"
    "$exe" cancel --server "127.0.0.1:$port" "$job" >/dev/null || true
    echo "records written during the writing phase: $before -> $after" | tee "$dir/writes.txt"
    kill "$worker" 2>/dev/null || true
  fi
  kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  worker=""
  server=""
  if [[ -n "$pg_dir" ]]; then
    bash "$root/scripts/pg_cluster.sh" stop "$pg_dir/c"
    rm -rf "$pg_dir"
    pg_dir=""
  fi

  /usr/bin/python3 - "$dir/lookup.csv" "$dir/summary.md" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
keys = sorted({(r["phase"], int(r["concurrency"]), float(r["rate"])) for r in rows},
              key=lambda k: (k[0] != "idle", k[2], k[1]))
lines = ["| phase | concurrency | load | throughput (req/s) | p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|---|"]
for phase, c, rate in keys:
    sel = [r for r in rows if (r["phase"], int(r["concurrency"]), float(r["rate"])) == (phase, c, rate)]
    med = lambda f: statistics.median(float(r[f]) for r in sel)
    load = "closed loop" if rate == 0 else "%d req/s" % rate
    lines.append("| %s | %d | %s | %.0f | %.3f | %.3f | %d |" % (phase, c, load, med("throughput"), med("p50_ms"),
                                                               med("p99_ms"), sum(int(r["errors"]) for r in sel)))
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
}

for kind in $stores; do
  echo "== $kind"
  bench_store "$kind"
done

# Side by side: each point's median throughput and p99, SQLite and PostgreSQL.
if [[ -f "$out/sqlite/lookup.csv" && -f "$out/postgresql/lookup.csv" ]]; then
  /usr/bin/python3 - "$out/sqlite/lookup.csv" "$out/postgresql/lookup.csv" "$out/compare.md" <<'EOF'
import csv, statistics, sys
def load(path):
    out = {}
    for r in csv.DictReader(open(path)):
        out.setdefault((r["phase"], int(r["concurrency"]), float(r["rate"])), []).append(r)
    return out
lite, pg = load(sys.argv[1]), load(sys.argv[2])
med = lambda sel, f: statistics.median(float(r[f]) for r in sel)
lines = ["| phase | clients | load | SQLite req/s | PostgreSQL req/s | PG / SQLite | SQLite p99 ms | PostgreSQL p99 ms | errors |",
         "|---|---|---|---|---|---|---|---|---|"]
for k in sorted(set(lite) & set(pg), key=lambda k: (k[0] != "idle", k[2], k[1])):
    a, b = lite[k], pg[k]
    load = "closed loop" if k[2] == 0 else "%d req/s" % k[2]
    lines.append("| %s | %d | %s | %.0f | %.0f | %.2f | %.3f | %.3f | %d |" % (
        k[0], k[1], load, med(a, "throughput"), med(b, "throughput"), med(b, "throughput") / med(a, "throughput"),
        med(a, "p99_ms"), med(b, "p99_ms"), sum(int(r["errors"]) for r in a + b)))
open(sys.argv[3], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
fi
