#!/usr/bin/env bash
# Install hark's build and test dependencies from Debian packages (apt-get),
# then configure and build. Idempotent: packages already present are skipped.
#   tools/setup.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential cmake pkg-config git ca-certificates
  libavformat-dev libavcodec-dev libswresample-dev libavutil-dev
  libsqlite3-dev libssl-dev libcurl4-openssl-dev libjansson-dev zlib1g-dev
  libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us pocketsphinx
  ffmpeg sox espeak-ng python3 python3-numpy
  clang libclang-rt-14-dev clang-format valgrind
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || true
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

BUILD=${1:-build}
shift || true
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
