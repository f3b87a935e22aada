#!/usr/bin/env bash
# Install hark's build and test dependencies from Debian packages (apt-get),
# then configure and build. Idempotent: packages already present are skipped.
# apt-get's own output is shown; it waits while another package manager holds
# apt's lock, and says so when 'apt-get update' fails.
#   tools/setup.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential cmake pkg-config git ca-certificates
  libavformat-dev libavcodec-dev libswresample-dev libavutil-dev
  libsqlite3-dev libssl-dev libcurl4-openssl-dev libjansson-dev zlib1g-dev
  libmicrohttpd-dev libwslay-dev wrk curl python3-websockets
  libpulse-dev pulseaudio pulseaudio-utils libpq-dev postgresql
  libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us pocketsphinx
  ffmpeg sox espeak-ng python3 python3-numpy
  clang libclang-rt-14-dev clang-format valgrind
  chromium
)
# Node.js and npm, for the web UI's browser tests only (npm installs puppeteer-core, which
# drives Debian's chromium; no browser is downloaded). A Node.js already on the machine
# (with its own npm) is used as it is.
if ! command -v npm >/dev/null 2>&1; then
  PKGS+=(nodejs npm)
fi

# apt-get that waits for another package manager (unattended-upgrades, a
# second setup) instead of failing with "Could not get lock": dpkg's lock
# through DPkg::Lock::Timeout, the lists lock by retrying every
# HARK_APT_RETRY_S seconds (default 10) for up to 10 minutes.
apt_get() {
  local log tries=0 rc
  log=$(mktemp)
  while :; do
    rc=0
    $SUDO apt-get -q -o DPkg::Lock::Timeout=600 "$@" 2>"$log" || rc=$?
    cat "$log" >&2
    if [ $rc -eq 0 ] || ! grep -q "Could not get lock" "$log" || [ $tries -ge 60 ]; then
      rm -f "$log"
      return $rc
    fi
    tries=$((tries + 1))
    echo "setup: another package manager holds apt's lock; waiting (try $tries of 60)..." >&2
    sleep "${HARK_APT_RETRY_S:-10}"
  done
}

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing with apt-get: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt_get update; then
    echo "setup: warning: 'apt-get update' failed (see above; offline?): installing from the" \
         "package lists already on this machine" >&2
  fi
  if ! apt_get install -y --no-install-recommends "${missing[@]}"; then
    echo "setup: could not install: ${missing[*]} (see apt-get's message above)" >&2
    exit 1
  fi
fi

# The browser tests' npm packages (tests/web/package-lock.json), installed again only when
# the lock file changed. Without them (offline) the browser tests skip.
if command -v npm >/dev/null 2>&1; then
  if ! cmp -s tests/web/package-lock.json tests/web/node_modules/.hark-lock 2>/dev/null; then
    echo "setup: npm ci in tests/web (puppeteer-core for the browser tests)" >&2
    if (cd tests/web && npm ci --no-audit --no-fund --loglevel=error); then
      cp tests/web/package-lock.json tests/web/node_modules/.hark-lock
    else
      echo "setup: warning: npm ci failed in tests/web; the browser tests will be skipped" >&2
    fi
  fi
fi

BUILD=${1:-build}
shift || true
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
