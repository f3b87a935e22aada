#!/usr/bin/env bash
# Set up hark and run its main job: install dependencies (apt-get), build,
# fetch the default Whisper model when the network allows (otherwise carry on
# with PocketSphinx and say so), then transcribe a recording: the file(s)
# given, or a sample spoken by espeak-ng (tools/demo.sh).
#   tools/run.sh [FILE...] [-- extra hark transcribe options]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh build
hark=build/hark

if [ -x "$hark" ] && "$hark" --help | grep -q '^  models'; then
  if ! "$hark" models path >/dev/null 2>&1; then
    echo "run: fetching the default Whisper model (base.en, 148 MB)..." >&2
    if ! timeout 900 "$hark" models pull base.en; then
      echo "run: could not download a Whisper model (offline?): using PocketSphinx." >&2
    fi
  fi
fi

files=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do files+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
if [ ${#files[@]} -eq 0 ]; then
  HARK=$hark exec tools/demo.sh "$@" # spoken vs heard, in a temporary database
fi
exec "$hark" transcribe "$@" "${files[@]}"
