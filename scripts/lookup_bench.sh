#!/usr/bin/env bash
# The tuning service's Lookup load benchmark (not a test): a store of 100,000 records of
# 500 real matmul workloads, `priortune serve` on loopback, and priortune_lookup_load
# calling Lookup for random workloads at concurrency 1, 8 and 32, closed loop (as fast as
# each client's answers come) and open loop at a fixed total rate; then the same while a
# tuning job writes to the store (one worker measuring, a batch stored every few
# seconds). Each point is the median of REPEATS runs of SECONDS each.
# Usage: scripts/lookup_bench.sh [out-dir]   (default bench-results/lookup)
#        env: SECONDS_PER_RUN=10 REPEATS=3 RATE=1000 RECORDS=100000
# On a 2-core machine the server, the load generator (and the worker) share the cores:
# the figures are a floor for a server with cores of its own.
set -euo pipefail
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { echo "usage: $0 [out-dir]" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
out="${1:-$root/bench-results/lookup}"
seconds="${SECONDS_PER_RUN:-10}"
repeats="${REPEATS:-3}"
rate="${RATE:-1000}"
records="${RECORDS:-100000}"
exe="$build/server/priortune"
load="$build/scripts/bench/priortune_lookup_load"
source "$root/scripts/study_common.sh"
"$root/scripts/setup.sh" "$build" >/dev/null
mkdir -p "$out"
describe_machine >"$out/machine.txt"

db="$out/lookup.db"
if [[ ! -f "$db" ]]; then
  timeout 1800 "$load" populate --db "$db" --records "$records" | tee "$out/populate.txt"
fi

server=""
worker=""
cleanup() {
  [[ -n "$worker" ]] && kill "$worker" 2>/dev/null || true
  [[ -n "$server" ]] && kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
start_serve "$db" 0 "$out/serve" --log-level warn
addr="127.0.0.1:$port"

csv="$out/lookup.csv"
echo "phase,repeat,concurrency,rate,requests,errors,misses,throughput,p50_ms,p90_ms,p99_ms,max_ms" >"$csv"
run_phase() {
  local phase="$1"
  for r in $(seq "$repeats"); do
    for c in 1 8 32; do
      for rt in 0 "$rate"; do
        line="$(timeout 600 "$load" run --server "$addr" --concurrency "$c" --seconds "$seconds" --rate "$rt")"
        echo "$phase,$r,$line" | tee -a "$csv"
      done
    done
  done
}

run_phase idle

# A tuning job writing to the store meanwhile: one worker, a long budget.
timeout 7200 "$exe" worker --server "$addr" --cpu 1 --repeat 2 --min-repeat-ms 5 >"$out/worker.log" 2>&1 &
worker=$!
"$exe" submit --server "$addr" --workload matmul:256x256x256 --trials 100000 --batch 8 --name lookup-bench-writer \
  >"$out/submit.txt"
job="$(sed -n 's/job \([0-9]*\) submitted/\1/p' "$out/submit.txt")"
count_records() { /usr/bin/python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM records').fetchone()[0])" "$db"; }
before="$(count_records)"
run_phase writing
after="$(count_records)"
"$exe" cancel --server "$addr" "$job" >/dev/null || true
echo "records written during the writing phase: $before -> $after" | tee "$out/writes.txt"

/usr/bin/python3 - "$csv" "$out/summary.md" <<'EOF'
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
