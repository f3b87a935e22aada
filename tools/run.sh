#!/usr/bin/env bash
# Set up hark and run its main job: install dependencies (apt-get), build,
# fetch the default Whisper model when the network allows (otherwise carry on
# with PocketSphinx and say so), then start the transcription server on the
# embedded default (SQLite in $XDG_DATA_HOME/hark, the best engine available)
# and print its URL. Ctrl-C stops it gracefully.
#   tools/run.sh [hark serve options]      the server (hark serve --help)
#   tools/run.sh FILE... [-- options]      transcribe files instead
#   tools/demo.sh                          a spoken sample, heard and scored
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

if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then # files: transcribe them
  files=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do files+=("$1"); shift; done
  [ "${1:-}" = "--" ] && shift
  exec "$hark" transcribe "$@" "${files[@]}"
fi
echo "run: starting the server; try:  curl -F file=@recording.wav <URL>/v1/audio/transcriptions" >&2
exec "$hark" serve "$@"
