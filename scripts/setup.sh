#!/usr/bin/env bash
# Installs the Debian packages priortune needs (if missing), then configures and builds.
# Usage: scripts/setup.sh [build-dir]        (default: build; env BUILD_TYPE=Release)
# Idempotent and quick when everything is present. Runs non-interactively (CI has no tty).
set -euo pipefail

usage() { echo "usage: $0 [build-dir]" >&2; exit 2; }
[[ $# -le 1 ]] || usage
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && usage

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
build_type="${BUILD_TYPE:-Release}"

# Build, test, packaging (cpack: dpkg-dev, file) and benchmark dependencies. Keep sorted.
packages=(
  ccache
  clang-format-14
  cmake
  dpkg-dev
  file
  g++
  grpc-proto
  iproute2
  libcli11-dev
  libdnnl-dev
  libgrpc++-dev
  libgtest-dev
  libonnx-dev
  libopenblas-dev
  libpq-dev
  libprotobuf-dev
  libspdlog-dev
  libsqlite3-dev
  libtorch-dev
  libxgboost-dev
  libzstd-dev
  llvm-16-dev
  munge
  ninja-build
  nlohmann-json3-dev
  openssl
  pkg-config
  postgresql
  protobuf-compiler
  protobuf-compiler-grpc
  python3-grpc-tools
  python3-grpcio
  python3-onnx
  python3-torchvision
  slurm-wlm
  zlib1g-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  timeout 900 "${sudo_cmd[@]}" apt-get update -q
  timeout 1800 "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

jobs="$(nproc)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" >/dev/null
timeout 3600 cmake --build "$build" -j "$jobs"
