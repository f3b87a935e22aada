#!/usr/bin/env bash
# bench/bench_capture.sh: capture to ring latency of `hark listen` (issue 8's
# "capture to ring buffer latency": seed target < 1 s, hark's goal < 50 ms).
#
# A private PulseAudio (no config of the user's, a Unix socket in a temporary
# folder) with a 16 kHz null sink; corpus recordings are played into the sink
# with paplay while `hark listen --device SINK.monitor` records its monitor.
# hark listen prints, when it ends, how old each 50 ms block's newest sample
# was when the block was in its ring buffer (the sound server's record latency
# when the block was read plus the append; src/cli/capture.c): p50, p95, max.
# Three rows in one run:
#   test          the deterministic test engine: the capture with nearly idle CPUs
#   pocketsphinx  the default engine decoding the same audio as it comes
#   pocketsphinx + 2 CPU hogs  the same with two busy loops (as many as this
#                 machine's cores in CI) competing for the CPUs
#
# usage: nice bench/bench_capture.sh [FILES]   (default: 3 recordings of ../shared/corpus/en, 30.5 s)
#   HARK=build/hark  KEEP=1 keeps the temporary folder (PulseAudio's and hark's logs)
set -euo pipefail
cd "$(dirname "$0")/.."
hark=$(realpath "${HARK:-build/hark}")
shared=${HARK_SHARED_DIR:-../shared}
for t in pulseaudio paplay; do
  command -v $t >/dev/null || { echo "bench_capture: $t is not installed (tools/setup.sh)" >&2; exit 77; }
done
if [ $# -gt 0 ]; then files=("$@"); else
  files=()
  for id in 1688-142285-0000 1688-142285-0001 1688-142285-0002; do
    files+=("$(realpath "$shared/corpus/en/$id.wav")")
  done
fi
for f in "${files[@]}"; do [ -f "$f" ] || { echo "bench_capture: no $f" >&2; exit 77; }; done

dir=$(mktemp -d)
hogs=()
cleanup() {
  for h in "${hogs[@]}"; do kill "$h" 2>/dev/null || true; done
  [ -f "$dir/pa.pid" ] && kill "$(cat "$dir/pa.pid")" 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT
mkdir -p "$dir/run" "$dir/home"
XDG_RUNTIME_DIR="$dir/run" PULSE_RUNTIME_PATH="$dir/run/pulse" HOME="$dir/home" \
  pulseaudio --daemonize=no -n --exit-idle-time=-1 --disable-shm=yes \
  -L "module-native-protocol-unix auth-anonymous=1 socket=$dir/native" \
  -L "module-null-sink sink_name=hark_bench rate=16000 channels=1" >"$dir/pa.log" 2>&1 &
echo $! >"$dir/pa.pid"
for _ in $(seq 100); do [ -S "$dir/native" ] && break; sleep 0.1; done
[ -S "$dir/native" ] || { echo "bench_capture: pulseaudio did not start:" >&2; cat "$dir/pa.log" >&2; exit 1; }
export PULSE_SERVER="unix:$dir/native"

audio=$(for f in "${files[@]}"; do soxi -D "$f" 2>/dev/null || echo 0; done | awk '{s+=$1} END {printf "%.1f", s}')
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "hark: $hark; ${#files[@]} recordings, ${audio} s, played with paplay into a 16 kHz null sink"
echo
echo "| row | blocks | p50 | p95 | max | overruns |"
echo "|---|---|---|---|---|---|"

row() { # NAME ENGINE HOGS
  local name=$1 engine=$2 nhogs=$3 i line
  hogs=()
  for ((i = 0; i < nhogs; i++)); do
    sh -c 'while :; do :; done' &
    hogs+=($!)
  done
  "$hark" listen --device hark_bench.monitor -e "$engine" --no-store >"$dir/$engine-$nhogs.txt" \
    2>"$dir/$engine-$nhogs.err" &
  local l=$!
  sleep 1
  for f in "${files[@]}"; do paplay --device=hark_bench "$f"; done
  sleep 1.5
  kill -INT $l
  wait $l || { echo "bench_capture: hark listen failed:" >&2; cat "$dir/$engine-$nhogs.err" >&2; exit 1; }
  for h in "${hogs[@]}"; do kill "$h" 2>/dev/null || true; wait "$h" 2>/dev/null || true; done
  hogs=()
  line=$(grep -o 'capture to ring: .*' "$dir/$engine-$nhogs.err" || true)
  [ -n "$line" ] || { echo "bench_capture: no latency line:" >&2; cat "$dir/$engine-$nhogs.err" >&2; exit 1; }
  local over
  over=$(grep -o '([0-9]* overruns)' "$dir/$engine-$nhogs.err" | tr -dc 0-9 || true)
  echo "$line" | sed -E "s/capture to ring: p50 ([0-9.]+) ms, p95 ([0-9.]+) ms, max ([0-9.]+) ms \(newest sample of each 50 ms block, ([0-9]+) blocks\)/| $name | \4 | \1 ms | \2 ms | \3 ms | ${over:-0} |/"
}

row "test engine" test 0
row "pocketsphinx" pocketsphinx 0
row "pocketsphinx + $(nproc) CPU hogs" pocketsphinx "$(nproc)"
echo
echo "Each figure is the age of a block's newest sample when the block was in the ring;"
echo "its oldest sample is one block (50 ms) older. Seed target < 1 s, goal < 50 ms."
