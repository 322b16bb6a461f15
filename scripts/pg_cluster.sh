#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks (Debian's postgresql 15):
# initdb into DIR, a private socket directory, a loopback port, trust authentication
# for loopback only, and a database named priortune. Nothing outside DIR is touched.
#   scripts/pg_cluster.sh start DIR PORT   prints the store URL (postgresql://...) when it answers
#   scripts/pg_cluster.sh stop DIR         stops the server and removes DIR
# As root the server runs as the `postgres` user (PostgreSQL refuses to run as root),
# so DIR's parents must be traversable by it.
# Exit 2 with a message when the packages are missing or the server does not come up
# within 60 s.
set -euo pipefail
cmd="${1:-}"; dir="${2:-}"
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: pg_cluster.sh start DIR PORT | stop DIR" >&2; exit 2; }
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[[ -x "$bin/initdb" ]] || { echo "pg_cluster: postgresql is not installed (bash scripts/setup.sh installs it)" >&2; exit 2; }
as_owner=()
if [[ "$(id -u)" == 0 ]]; then
  id postgres > /dev/null 2>&1 || { echo "pg_cluster: no postgres user" >&2; exit 2; }
  as_owner=(runuser -u postgres --)
fi
case "$cmd" in
  start)
    port="${3:-}"
    [[ "$port" =~ ^[0-9]+$ ]] || { echo "pg_cluster: start needs a port" >&2; exit 2; }
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [[ "$(id -u)" == 0 ]]; then
      chown postgres: "$dir"
      runuser -u postgres -- test -x "$dir" ||
        { echo "pg_cluster: the postgres user cannot reach $dir (a parent directory is private)" >&2; exit 2; }
    fi
    "${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
      > "$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 2; }
    "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=on -c max_connections=200" \
      start > /dev/null || { cat "$dir/server.log" >&2; exit 2; }
    "${as_owner[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres priortune
    echo "postgresql://postgres@127.0.0.1:$port/priortune"
    ;;
  stop)
    [[ -d "$dir/data" ]] && "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop > /dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "pg_cluster: unknown command '$cmd' (start, stop)" >&2; exit 2 ;;
esac
