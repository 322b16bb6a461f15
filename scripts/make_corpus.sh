#!/usr/bin/env bash
# The tuning-log corpus (issue 10): tunes every workload of scripts/corpus_workloads.txt
# (layers of ResNet-18/50, MobileNetV2, VGG-16, BERT-base, ViT, GPT-2, EfficientNet) on
# this machine's CPU, exploring as well as exploiting: per workload first --random trials
# drawn uniformly (slow configs as well as fast ones), then the GA up to --trials. Every
# workload's seed is derived from --seed, so a run is reproducible up to timing noise;
# resumable: the budgets count what the store already holds, so a second run measures only
# what is missing. Then exports the store to data/corpus/<microarch>-<isa>.jsonl.gz
# (znver4-avx512, emeraldrapids-avx2, ...: the CPU from CPUID as `priortune target` names
# it; compressed JSON lines, `priortune import` and `train-model --log` read it) with a
# .machine.txt beside it, and prints the corpus's statistics (scripts/corpus_stats.py).
# --target host-avx2 on an AVX-512 host makes the same CPU's AVX2 corpus (its own timings).
# 40-60 minutes on a 2-core host with the defaults. Benchmark alone on the machine.
# Usage: scripts/make_corpus.sh [--trials N (224)] [--random N (64)] [--seed S (1)]
#                               [--target host|host-avx2 (host)] [--db PATH]
#                               [--only name,name] [--no-export]
set -euo pipefail
usage() { echo "usage: $0 [--trials N] [--random N] [--seed S] [--target SPEC] [--db PATH] [--only names] [--no-export]" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exe="${BUILD_DIR:-$root/build}/server/priortune"
trials=224
random=64
seed=1
target=host
db=""
only=""
export_it=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --trials) [[ $# -ge 2 ]] || usage; trials="$2"; shift 2 ;;
    --random) [[ $# -ge 2 ]] || usage; random="$2"; shift 2 ;;
    --seed) [[ $# -ge 2 ]] || usage; seed="$2"; shift 2 ;;
    --target) [[ $# -ge 2 ]] || usage; target="$2"; shift 2 ;;
    --db) [[ $# -ge 2 ]] || usage; db="$2"; shift 2 ;;
    --only) [[ $# -ge 2 ]] || usage; only=",$2,"; shift 2 ;;
    --no-export) export_it=0; shift ;;
    -h|--help) usage ;;
    *) usage ;;
  esac
done
[[ "$trials" =~ ^[0-9]+$ && "$random" =~ ^[0-9]+$ && "$seed" =~ ^[0-9]+$ ]] || usage
[[ -x "$exe" ]] || { echo "make_corpus: $exe not built (scripts/setup.sh)" >&2; exit 2; }
source "$root/scripts/study_common.sh"  # describe_machine, host_kind
# The corpus's name: the target's microarchitecture and ISA level, file-name safe
# ("unknown (family 26, model 200)" -> unknown-family-26-model-200).
target_info="$("$exe" target --target "$target")" || { echo "make_corpus: bad --target '$target'" >&2; exit 2; }
cpu="$(host_kind "$target")"
[[ -n "$db" ]] || db="$root/bench-results/corpus/$cpu/corpus.db"
echo "make_corpus: $cpu (target $target), store $db" >&2
mkdir -p "$(dirname "$db")"
start=$(date +%s)
index=0
while read -r name op shape _; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  index=$((index + 1))
  [[ -n "$only" && "$only" != *",$name,"* ]] && continue
  t0=$(date +%s)
  s=$((seed * 1000 + index))
  echo "== $index $name ($op $shape): $random random + GA to $trials trials, seed $s" >&2
  log="$(dirname "$db")/$name.log"
  : >"$log"
  for phase in "random $random" "ga $trials"; do
    read -r strategy n <<<"$phase"
    [[ "$n" -gt 0 ]] || continue
    timeout 7200 "$exe" tune --op "$op" --shape "$shape" --trials "$n" --strategy "$strategy" --seed "$s" \
      --target "$target" --db "$db" --no-compare >>"$log" 2>&1 || echo "   $name: tune $strategy failed (see $log)" >&2
  done
  echo "   $(grep -E 'trials \(' "$log" | tail -1 | sed 's/^ *//')  [$(( $(date +%s) - t0 )) s]" >&2
done <"$root/scripts/corpus_workloads.txt"
echo "corpus store: $db ($(( $(date +%s) - start )) s)" >&2
[[ "$export_it" == 1 ]] || exit 0

out="$root/data/corpus/$cpu.jsonl"
mkdir -p "$(dirname "$out")"
"$exe" export --db "$db" --out "$out" >&2
gzip -9 -n -f "$out"
{
  describe_machine
  grep -E "^(name|llvm-cpu|isa|key|host-cpuid) " <<<"$target_info"
  echo "made by: scripts/make_corpus.sh --trials $trials --random $random --seed $seed --target $target, $(date -u +%F)"
} >"$root/data/corpus/$cpu.machine.txt"
echo "corpus: $out.gz ($(stat -c %s "$out.gz") bytes)" >&2
/usr/bin/python3 "$root/scripts/corpus_stats.py" "$out.gz"
