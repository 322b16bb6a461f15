#!/usr/bin/env bash
# The torchvision zoo (issue 31): every non-attention model of Debian's torchvision
# exported, imported, run with hand-picked configs and checked against PyTorch, one at a
# time (scripts/zoo.py), writing docs/results/zoo.md. A benchmark, not a test: about half
# an hour on 2 cores, tens of GB of ONNX written and deleted one model at a time.
# FAMILY=attention (issue 32): the attention families (ViT, Swin, MaxViT) and the token
# encoders of scripts/encoders.py (BERT-base, GPT-2-small), into docs/results/zoo-attention.md.
# Usage: scripts/zoo.sh [build-dir]   env MODELS=a,b (a subset)  THREADS=1  RESUME=1 (go on from the
#        results file)  REPORT_ONLY=1 (write the report from it now)  FAMILY=cnn|attention
#        WORK=/tmp/priortune-zoo[-attention]  REPORT=docs/results/zoo[-attention].md
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
family="${FAMILY:-cnn}"
suffix=""
[[ "$family" == "attention" ]] && suffix="-attention"
exec /usr/bin/python3 "$root/scripts/zoo.py" --priortune "$exe" --family "$family" \
  --work "${WORK:-/tmp/priortune-zoo$suffix}" --report "${REPORT:-$root/docs/results/zoo$suffix.md}" \
  --threads "${THREADS:-1}" ${MODELS:+--models "$MODELS"} ${RESUME:+--resume} ${REPORT_ONLY:+--report-only}
