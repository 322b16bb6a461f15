#!/usr/bin/env bash
# A throwaway one-node Slurm cluster for tests and benchmarks (Debian's slurm-wlm 22.05
# with munge): a munge key and munged on a private socket, then slurmctld and slurmd
# from a generated slurm.conf with private state, spool and log directories and
# non-default ports. Nothing outside DIR is touched; the system's slurm.conf and
# munged are not used.
#   scripts/slurm/cluster.sh start DIR PORT   PORT: slurmctld's (slurmd gets PORT+1);
#                                             prints the SLURM_CONF path when the node is up
#   scripts/slurm/cluster.sh stop DIR         cancels every job, stops the daemons, removes DIR
# Then: SLURM_CONF=DIR/slurm.conf sbatch|squeue|scancel|sinfo ...
# The node offers every core of this machine, one CPU per core (select/cons_tres,
# CR_Core), and binds each task to its cores (task/affinity). Runs as root (slurmd
# starts jobs as their user). Exit 2 with a message when the packages are missing or
# the node is not up within 120 s.
set -euo pipefail
cmd="${1:-}"; dir="${2:-}"
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: cluster.sh start DIR PORT | stop DIR" >&2; exit 2; }
for b in munged slurmctld slurmd sbatch sinfo; do
  command -v "$b" > /dev/null || [[ -x "/usr/sbin/$b" ]] ||
    { echo "slurm cluster: $b is missing (bash scripts/setup.sh installs slurm-wlm and munge)" >&2; exit 2; }
done
export PATH="$PATH:/usr/sbin"

stop_pid() {  # pid file, seconds
  local f="$1" t="$2" pid
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f" 2>/dev/null || true)"
  [[ -n "$pid" ]] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq $((t * 10))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

case "$cmd" in
  start)
    port="${3:-}"
    [[ "$port" =~ ^[0-9]+$ ]] || { echo "slurm cluster: start needs a port" >&2; exit 2; }
    [[ "$(id -u)" == 0 ]] || { echo "slurm cluster: run as root (slurmd starts jobs as their user)" >&2; exit 2; }
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/munge"
    chmod 0700 "$dir/munge"
    # munge: a fresh key, its own socket, pid, seed and log files.
    dd if=/dev/urandom of="$dir/munge/key" bs=1024 count=1 status=none
    chmod 0400 "$dir/munge/key"
    munged --force --key-file="$dir/munge/key" --socket="$dir/munge/socket" \
      --pid-file="$dir/munge/pid" --seed-file="$dir/munge/seed" --log-file="$dir/log/munged.log" ||
      { cat "$dir/log/munged.log" >&2 2>/dev/null; exit 2; }
    node="$(hostname -s)"
    cpus="$(nproc)"
    # RealMemory is left at its default (1 MB): jobs ask for cores, not memory.
    cat > "$dir/slurm.conf" <<EOF
ClusterName=priortune
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=10
MinJobAge=300
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF="$dir/slurm.conf"
    slurmctld -f "$SLURM_CONF" -i || { cat "$dir/log/slurmctld.log" >&2; exit 2; }
    slurmd -f "$SLURM_CONF" -N "$node" || { cat "$dir/log/slurmd.log" >&2; exit 2; }
    for _ in $(seq 240); do
      state="$(sinfo -h -n "$node" -o %t 2>/dev/null || true)"
      [[ "$state" == idle* || "$state" == mix* || "$state" == alloc* ]] && { echo "$SLURM_CONF"; exit 0; }
      for d in slurmctld slurmd; do
        if [[ -f "$dir/$d.pid" ]] && ! kill -0 "$(cat "$dir/$d.pid" 2>/dev/null)" 2>/dev/null; then
          echo "slurm cluster: $d exited while node $node came up (state '${state:-?}')" >&2
          tail -n 20 "$dir/log/$d.log" >&2 || true
          exit 2
        fi
      done
      sleep 0.5
    done
    echo "slurm cluster: node $node did not come up within 120 s (state '${state:-?}')" >&2
    tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
    exit 2
    ;;
  stop)
    if [[ -f "$dir/slurm.conf" ]]; then
      SLURM_CONF="$dir/slurm.conf" scancel --quiet --user=root 2>/dev/null || true
      stop_pid "$dir/slurmd.pid" 15
      stop_pid "$dir/slurmctld.pid" 15
    fi
    stop_pid "$dir/munge/pid" 5
    rm -rf "$dir"
    ;;
  *) echo "slurm cluster: unknown command '$cmd' (start, stop)" >&2; exit 2 ;;
esac
