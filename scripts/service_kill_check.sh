#!/usr/bin/env bash
# Durability of the tuning service, counted from the store: a job of two workloads runs
# on `priortune serve` with two worker processes; the server is killed with SIGKILL
# KILLS times mid-job and started again on the same store and port each time. At the
# end it prints, from the SQLite file: records per workload against the budget, configs
# measured twice, records lost (present at a kill, missing after), and which worker
# processes served the job after the last restart (they reconnected by themselves).
# Usage: scripts/service_kill_check.sh [out-dir]   (default bench-results/service-kill)
#        env: KILLS=3 TRIALS=96
set -euo pipefail
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { echo "usage: $0 [out-dir]" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
out="${1:-$root/bench-results/service-kill}"
kills="${KILLS:-3}"
trials="${TRIALS:-96}"
exe="$build/server/priortune"
source "$root/scripts/study_common.sh"
"$root/scripts/setup.sh" "$build" >/dev/null
rm -rf "$out" && mkdir -p "$out"
db="$out/service.db"

sql() { /usr/bin/python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "$db" "$1"; }
server=""
workers=()
cleanup() {
  [[ -n "$server" ]] && kill -9 "$server" 2>/dev/null || true
  for w in "${workers[@]}"; do kill "$w" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

port=0
start_serve "$db" 0 "$out/serve-0"
for cpu in 0 1; do
  timeout 3600 "$exe" worker --server "127.0.0.1:$port" --cpu "$cpu" --repeat 2 --min-repeat-ms 5 \
    >"$out/worker-$cpu.log" 2>&1 &
  workers+=($!)
done
"$exe" submit --server "127.0.0.1:$port" --workload matmul:96x96x96 --workload matmul:64x128x96 \
  --trials "$trials" --batch 8 --name kill-check >"$out/submit.txt"
job="$(sed -n 's/^job \([0-9]*\) submitted.*/\1/p' "$out/submit.txt")"
[[ "$job" =~ ^[0-9]+$ ]] || { echo "service_kill_check: no job id in submit's output: $(cat "$out/submit.txt")" >&2; exit 1; }

echo "kill,records_at_kill,max_id_at_kill"
last=0
declare -a at_kill max_at_kill
for k in $(seq "$kills"); do
  # Wait (bounded) until at least 16 more records are stored, then kill.
  for _ in $(seq 1200); do
    n="$(sql "SELECT COUNT(*) FROM records")"
    (( n >= last + 16 )) && break
    sleep 0.1
  done
  kill -9 "$server"
  wait "$server" 2>/dev/null || true
  at_kill[$k]="$(sql "SELECT COUNT(*) FROM records")"
  max_at_kill[$k]="$(sql "SELECT COALESCE(MAX(id), 0) FROM records")"
  last="${at_kill[$k]}"
  echo "$k,${at_kill[$k]},${max_at_kill[$k]}"
  start_serve "$db" "$port" "$out/serve-$k"
done
restart_max="${max_at_kill[$kills]}"
timeout 1800 "$exe" watch --server "127.0.0.1:$port" "$job" >"$out/watch.txt" 2>&1 || true
tail -1 "$out/watch.txt"

echo
echo "job state: $(sql "SELECT state FROM jobs WHERE id = $job")"
/usr/bin/python3 - "$db" "$trials" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
trials = int(sys.argv[2])
for key, js, n, distinct in db.execute(
        "SELECT w.key, w.json, COUNT(*), COUNT(DISTINCT r.target_id || '/' || r.config_hash) "
        "FROM records r JOIN workloads w ON w.id = r.workload_id GROUP BY w.id"):
    print("workload %s: %d records (budget %d), %d distinct configs, %d measured twice" % (js, n, trials, distinct, n - distinct))
EOF
lost=0
for k in $(seq "$kills"); do
  still="$(sql "SELECT COUNT(*) FROM records WHERE id <= ${max_at_kill[$k]}")"
  lost=$(( lost + at_kill[k] - still ))
done
echo "records lost across $kills kills: $lost"
echo "records stored after the last restart: $(sql "SELECT COUNT(*) FROM records WHERE id > $restart_max"), by workers:"
/usr/bin/python3 -c "
import sqlite3,sys
for w, n in sqlite3.connect(sys.argv[1]).execute('SELECT worker, COUNT(*) FROM records WHERE id > ? GROUP BY worker', (int(sys.argv[2]),)):
    print('  %s: %d' % (w, n))" "$db" "$restart_max"
echo "worker processes ${workers[*]} alive at the end: $(for w in "${workers[@]}"; do kill -0 "$w" 2>/dev/null && echo -n "yes " || echo -n "no "; done)"
