#!/usr/bin/env bash
# The torchvision zoo (issue 31): every non-attention model of Debian's torchvision
# exported, imported, run with hand-picked configs and checked against PyTorch, one at a
# time (scripts/zoo.py), writing docs/results/zoo.md. A benchmark, not a test: about half
# an hour on 2 cores, tens of GB of ONNX written and deleted one model at a time.
# Usage: scripts/zoo.sh [build-dir]   env MODELS=a,b (a subset)  THREADS=1  RESUME=1 (go on from the
#        results file)  REPORT_ONLY=1 (write the report from it now)
#        WORK=/tmp/priortune-zoo  REPORT=docs/results/zoo.md
# Run nothing else meanwhile: the latencies are timed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
exe="$build/server/priortune"
[[ -x "$exe" ]] || { echo "zoo: build first ($exe missing)" >&2; exit 2; }
/usr/bin/python3 -c "import torchvision, onnx" 2> /dev/null || {
  echo "zoo: needs Debian's python3-torchvision and python3-onnx (scripts/setup.sh installs them)" >&2
  exit 2
}
exec /usr/bin/python3 "$root/scripts/zoo.py" --priortune "$exe" --work "${WORK:-/tmp/priortune-zoo}" \
  --report "${REPORT:-$root/docs/results/zoo.md}" --threads "${THREADS:-1}" ${MODELS:+--models "$MODELS"} \
  ${RESUME:+--resume} ${REPORT_ONLY:+--report-only}
