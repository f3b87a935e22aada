#!/usr/bin/env bash
# The spoken sample of tools/run.sh: espeak-ng says a sentence, hark
# transcribes it, and what was spoken is printed next to what was heard.
# Everything happens in a private temporary folder (mktemp -d) with its own
# database and cache, removed afterwards: the user's own transcripts and
# cache are not touched.
#   tools/demo.sh [extra hark transcribe options]      (HARK=path/to/hark, default build/hark)
#
# The sentence, voice and rate were chosen by measuring what Debian 12's
# PocketSphinx en-us model (the engine used when no Whisper model is
# installed) hears: 0% word errors at en-us+klatt, 170 words per minute, and
# at most 14% at 160-180 wpm with the klatt and klatt2 voices (hark eval on
# the espeak-ng output). espeak-ng's default voice is far harder for it
# (60-90% on the same sentences). tests/integration/tools checks it stays
# under 20%.
set -euo pipefail
cd "$(dirname "$0")/.."
hark=${HARK:-build/hark}
text="This recording was transcribed on your own computer. I would like to book a table for two people at seven o'clock."

dir=$(mktemp -d "${TMPDIR:-/tmp}/hark-demo.XXXXXX")
trap 'rm -rf "$dir"' EXIT
espeak-ng -v en-us+klatt -s 170 -w "$dir/sample.wav" "$text"
echo "demo: transcribing a sample spoken by espeak-ng (a temporary database, not yours)" >&2
heard=$("$hark" transcribe --db "$dir/hark.db" --cache-db "$dir/cache.db" "$@" "$dir/sample.wav")
printf 'spoken: %s\nheard:  %s\n' "$text" "$heard"
