#!/usr/bin/env bash
# bench/bench_fallback.sh: how much audio the confidence fallback would re-send
# (hark transcribe --fallback ENGINE --fallback-below X re-transcribes every
# segment whose confidence is below X). One transcription run per corpus file
# with the local engine (default pocketsphinx), then, for each threshold, the
# fraction of segments and of segment audio below it: what a fallback at that
# threshold sends to the second engine.
#
# usage: nice bench/bench_fallback.sh [CORPUS_DIR]
#   HARK=build/hark  ENGINE=pocketsphinx  THRESHOLDS="0.5 0.7 0.9"  LIMIT=N (first N files)
#   KEEP=DIR keeps the per-file JSON there (else a temporary folder, removed at exit);
#   a run with the same KEEP=DIR continues where an interrupted one stopped
#
# CORPUS_DIR holds manifest.tsv (id, file, duration_s, ...) and the WAVs
# (default ../shared/corpus/en). Needs jq. Prints one table row per threshold.
set -euo pipefail
cd "$(dirname "$0")/.."
hark=${HARK:-build/hark}
engine=${ENGINE:-pocketsphinx}
thresholds=${THRESHOLDS:-"0.5 0.7 0.9"}
dir=${1:-${HARK_SHARED_DIR:-../shared}/corpus/en}
[ -f "$dir/manifest.tsv" ] || { echo "no $dir/manifest.tsv" >&2; exit 77; }
command -v jq >/dev/null || { echo "jq is needed" >&2; exit 77; }
if [ -n "${KEEP:-}" ]; then out=$KEEP; mkdir -p "$out"; else
  out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi

n=0
start=$(date +%s)
while IFS=$'\t' read -r id file _; do
  [ "$id" = id ] && continue
  [ -n "${LIMIT:-}" ] && [ "$n" -ge "$LIMIT" ] && break
  n=$((n + 1))
  # KEEP=DIR again continues a run: files already transcribed there are not redone
  jq -e .segments "$out/$id.json" >/dev/null 2>&1 && continue
  "$hark" transcribe -e "$engine" -f json --no-store --no-cache "$dir/$file" >"$out/$id.json" 2>/dev/null ||
    { echo "transcribe failed: $file" >&2; rm -f "$out/$id.json"; exit 1; }
done <"$dir/manifest.tsv"
secs=$(( $(date +%s) - start ))

# every segment of every file: start, end, confidence
for f in "$out"/*.json; do jq -r '.segments[] | [.start, .end, .confidence] | @tsv' "$f"; done >"$out/segments.tsv"
echo "corpus: $dir, $n files; engine: $engine; $(wc -l <"$out/segments.tsv") segments; ${secs} s wall"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores)"
printf '| threshold | segments re-sent | share of segments | segment audio re-sent | share of audio |\n'
printf '|---|---|---|---|---|\n'
for t in $thresholds; do
  awk -F'\t' -v t="$t" '{ d = $2 - $1; n++; a += d; if ($3 < t) { k++; b += d } }
    END { printf "| %s | %d of %d | %.1f%% | %.1f s of %.1f s | %.1f%% |\n", t, k, n, 100 * k / n, b, a, 100 * b / a }' \
    "$out/segments.tsv"
done
cut -f3 "$out/segments.tsv" | sort -g |
  awk '{ c[NR] = $1 } END { printf "confidence: min %.3f, median %.3f, max %.3f\n", c[1], c[int((NR + 1) / 2)], c[NR] }'
