#!/usr/bin/env bash
# Measurement throughput as Slurm-placed workers are added (a benchmark, not a test).
# A one-node Slurm cluster of this machine (scripts/slurm/cluster.sh), `priortune serve`
# on a fresh SQLite store per run, and scripts/slurm/workers.sbatch submitted as an array
# of N one-core tasks; one job of TRIALS random-search candidates (the same seed, so the
# same candidates, in every run) is timed from submit to done: throughput = trials / wall
# time. The squeue listing and each task's cores (scontrol -d) are saved per run: on this
# machine's cores Slurm runs one task per core and keeps the rest pending.
# Then a demonstration: 3 tasks on the node, task 0 cancelled mid-job: its candidate is
# handed back, Slurm starts the pending task 2 on the freed core, the job finishes with
# every trial stored once (squeue and the store's counts at each step in demo.txt).
# Usage: scripts/slurm_bench.sh [out-dir]   (default bench-results/slurm)
#        env: WORKERS="1 2 4" REPEATS=3 TRIALS=96 WORKLOAD=matmul:128x128x128
set -euo pipefail
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { echo "usage: $0 [out-dir]" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
out="${1:-$root/bench-results/slurm}"
workers_list="${WORKERS:-1 2 4}"
repeats="${REPEATS:-3}"
trials="${TRIALS:-96}"
workload="${WORKLOAD:-matmul:128x128x128}"
exe="$build/server/priortune"
source "$root/scripts/study_common.sh"
"$root/scripts/setup.sh" "$build" >/dev/null
mkdir -p "$out"
out="$(cd "$out" && pwd)"
describe_machine >"$out/machine.txt"
cores="$(nproc)"

slurm_dir="$(mktemp -d /tmp/priortune-slurm-bench-XXXXXX)"
server=""
cleanup() {
  [[ -n "$server" ]] && kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  bash "$root/scripts/slurm/cluster.sh" stop "$slurm_dir/c" || true
  rm -rf "$slurm_dir"
}
trap cleanup EXIT
slurm_port=$((40000 + $$ % 10000 * 2))
export SLURM_CONF
SLURM_CONF="$(bash "$root/scripts/slurm/cluster.sh" start "$slurm_dir/c" "$slurm_port")"
export PRIORTUNE="$exe"
worker_args=(--repeat 3 --min-repeat-ms 10 --retry-seconds 30)

# wait_for TEXT FILE COUNT SECONDS: until FILE has COUNT lines matching TEXT.
wait_for() {
  local deadline=$((SECONDS + $4))
  while (( SECONDS < deadline )); do
    (( $(grep -c -- "$1" "$2" 2>/dev/null || true) >= $3 )) && return 0
    sleep 0.2
  done
  echo "slurm_bench: timed out waiting for $3 x '$1' in $2" >&2
  return 1
}
# live ARRAY: tasks of ARRAY pending or running.
live() { squeue -h -r -j "$1" -t PD,CF,R,CG -o %K 2>/dev/null | wc -l; }
count() { /usr/bin/python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "$1" "$2"; }
# run_once N PREFIX [demo]: one timed job through an array of N workers.
run_once() {
  local n="$1" prefix="$2" demo="${3:-}" db="$2.db" array placed job t0 t1
  rm -f "$db"
  start_serve "$db" 0 "$prefix-serve"
  array="$(sbatch --parsable --array=0-$((n - 1)) --cpus-per-task=1 --output="$prefix-worker-%a.log" \
    "$root/scripts/slurm/workers.sbatch" "127.0.0.1:$port" -- "${worker_args[@]}")"
  placed=$(( n < cores ? n : cores ))
  wait_for "worker slurm-${array}_.* joined" "$prefix-serve.log" "$placed" 120
  { echo "# squeue -r (workers joined: $placed)"; squeue -r -j "$array" -o "%.10i %.2t %.4C %.10R"
    echo "# cores of each running task (scontrol -d show job)"
    scontrol -d show job "$array" | grep -E "JobId=|CPU_IDs" | sed 's/^ *//'; } >"$prefix-squeue.txt"
  t0=$(date +%s.%N)
  "$exe" submit --server "127.0.0.1:$port" --workload "$workload" --trials "$trials" --strategy random --seed 1 \
    --name "slurm-bench-$n" --watch 2>&1 | while IFS= read -r line; do
      printf '%s %s\n' "$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')" "$line"
      if [[ -n "$demo" && "$line" == *"32/$trials"* ]]; then demo_cancel "$array" "$db"; fi
    done >"$prefix-watch.txt"
  t1=$(date +%s.%N)
  grep -q "job [0-9]* done" "$prefix-watch.txt" || { echo "slurm_bench: the job did not finish" >&2; cat "$prefix-watch.txt" >&2; exit 1; }
  wall=$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
  stored=$(count "$db" "SELECT COUNT(*) FROM records")
  distinct=$(count "$db" "SELECT COUNT(DISTINCT config) FROM records")
  per_worker=$(/usr/bin/python3 -c "import sqlite3,sys; print(' '.join('%s=%d' % r for r in sqlite3.connect(sys.argv[1]).execute('SELECT worker, COUNT(*) FROM records GROUP BY worker ORDER BY worker')))" "$db")
  scancel "$array"
  local deadline=$((SECONDS + 60))
  while (( $(live "$array") > 0 && SECONDS < deadline )); do sleep 0.2; done
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
}

# demo_cancel ARRAY DB: cancel task 0 mid-job, show the pending task being placed.
demo_cancel() {
  local array="$1" db="$2" demo="$out/demo.txt"
  { echo "## before: $(count "$db" 'SELECT COUNT(*) FROM records') records stored"
    squeue -r -j "$array" -o "%.10i %.2t %.10R"
    echo "## scancel ${array}_0"; } >>"$demo"
  scancel "${array}_0"
  local deadline=$((SECONDS + 60))
  while (( SECONDS < deadline )); do
    [[ "$(squeue -h -r -j "${array}_2" -t R -o %K 2>/dev/null)" == 2 ]] && break
    sleep 0.2
  done
  { echo "## after ($(count "$db" 'SELECT COUNT(*) FROM records') records stored)"
    squeue -r -j "$array" -o "%.10i %.2t %.10R"
    scontrol -d show job "${array}_2" | grep -E "CPU_IDs" | sed 's/^ *//'; } >>"$demo"
}

csv="$out/throughput.csv"
echo "workers,repeat,placed,trials,stored,distinct_configs,wall_s,trials_per_s,per_worker" >"$csv"
for n in $workers_list; do
  for r in $(seq "$repeats"); do
    run_once "$n" "$out/n$n-r$r"
    line="$n,$r,$(( n < cores ? n : cores )),$trials,$stored,$distinct,$wall,$(awk -v t="$trials" -v w="$wall" 'BEGIN { printf "%.3f", t / w }'),$per_worker"
    echo "$line" | tee -a "$csv"
  done
done

: >"$out/demo.txt"
run_once 3 "$out/demo" demo
{ echo "## end: $stored records stored, $distinct distinct configs, trials $trials, wall $wall s; per worker: $per_worker"
  echo "## the server's log of the leaving"; grep -E "leaving|hands back|joined|left" "$out/demo-serve.log" || true
  echo "## worker 0's log"; cat "$out/demo-worker-0.log"; } >>"$out/demo.txt"
cat "$out/demo.txt"

/usr/bin/python3 - "$csv" "$out/summary.md" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
by = {}
for r in rows: by.setdefault(int(r["workers"]), []).append(r)
base = statistics.median(float(r["trials_per_s"]) for r in by[min(by)])
lines = ["| workers submitted | placed (running) | trials/s (median) | runs | speed-up vs %d | wall s (median) | stored / distinct |" % min(by),
         "|---|---|---|---|---|---|---|"]
for n in sorted(by):
    sel = by[n]
    tps = statistics.median(float(r["trials_per_s"]) for r in sel)
    lines.append("| %d | %s | %.2f | %s | %.2f | %.1f | %s |" % (
        n, sel[0]["placed"], tps, " ".join("%.2f" % float(r["trials_per_s"]) for r in sel), tps / base,
        statistics.median(float(r["wall_s"]) for r in sel),
        ", ".join("%s/%s" % (r["stored"], r["distinct_configs"]) for r in sel)))
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
