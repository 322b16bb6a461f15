# What the tuning studies share (sourced by tuning_efficiency.sh, meta_efficiency.sh and
# make_corpus.sh; the caller sets $exe, the priortune executable).

# The CPU a study measured on, for the figures to name it: model name, cores, ISA kind
# (AVX-512 or AVX2), CPU family and model.
describe_machine() {
  lscpu | grep -E "Model name|^CPU\(s\)|Flags" | sed 's/Flags:.*avx512f.*/ISA: AVX-512/; s/Flags:.*/ISA: AVX2 (no AVX-512)/' |
    tr -s ' \t' ' '
  grep -m2 -E "^cpu family|^model\s" /proc/cpuinfo | tr -s ' \t' ' ' || true
}

# tune_traced db trace op shape trials strategy seed [extra tune args...]: one run of a
# study (no comparison at the end, no hand-picked config), its per-trial trace in <trace>,
# its output in <trace without .csv>.log; the summary lines go to stderr. A failed run
# leaves its log and does not stop the study.
tune_traced() {
  local db="$1" trace="$2" op="$3" shape="$4" n="$5" strategy="$6" seed="$7"
  shift 7
  timeout 7200 "$exe" tune --op "$op" --shape "$shape" --trials "$n" --strategy "$strategy" --seed "$seed" \
    --db "$db" --trace "$trace" --no-compare --no-hand-picked-seed "$@" >"${trace%.csv}.log" 2>&1 || true
  grep -E "trials/s|cost model:|meta model:|transfer:" "${trace%.csv}.log" | sed 's/^/    /' >&2 || true
}

# start_serve db port prefix [serve args...]: `priortune serve` on 127.0.0.1:port (0: a
# free one) in the background, not under `timeout` (a kill must reach the server itself),
# its stdout in prefix.port and its log in prefix.log; waits until it listens and sets
# $server (its pid) and $port.
start_serve() {
  local db="$1" want="$2" prefix="$3"
  shift 3
  "$exe" serve --db "$db" --listen "127.0.0.1:$want" "$@" >"$prefix.port" 2>"$prefix.log" &
  server=$!
  for _ in $(seq 600); do grep -q "listening on port" "$prefix.port" 2>/dev/null && break; sleep 0.1; done
  port="$(sed -n 's/listening on port \([0-9]*\)/\1/p' "$prefix.port")"
  [[ -n "$port" ]] || { echo "serve did not start" >&2; cat "$prefix.log" >&2; exit 1; }
}

# host_kind: this host's CPU kind as corpora and shipped models are named
# (<microarch>-<isa>, e.g. znver4-avx512; `priortune target`).
host_kind() {
  local info uarch isa
  info="$("$exe" target --target "${1:-host}")" || return 1
  uarch="$(awk '$1 == "name" { $1 = ""; print }' <<<"$info" | sed -E 's/[^A-Za-z0-9.]+/-/g; s/^-+|-+$//g')"
  isa="$(awk '$1 == "isa" { print $2 }' <<<"$info")"
  echo "${uarch:-unknown}-${isa#x86_64-}"
}

# shipped_file dir ext: the file of this host's kind in dir (<kind>.<ext>), else the first
# one there (another CPU's: a prior only); empty if there is none.
shipped_file() {
  local dir="$1" ext="$2" kind
  kind="$(host_kind)" || kind=""
  if [[ -n "$kind" && -f "$dir/$kind.$ext" ]]; then echo "$dir/$kind.$ext"; return; fi
  ls "$dir"/*."$ext" 2>/dev/null | head -1 || true
}
