#!/usr/bin/env bash
# Renders docs/architecture.dot (the architecture picture of README.md and docs/design.md)
# to docs/architecture.svg with graphviz, installing it if missing.
# Usage: scripts/architecture.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! command -v dot > /dev/null; then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends graphviz
fi
dot -Tsvg "$root/docs/architecture.dot" -o "$root/docs/architecture.svg"
echo "wrote $root/docs/architecture.svg"
