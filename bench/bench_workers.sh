#!/usr/bin/env bash
# bench_workers.sh: audio hours transcribed per hour by 1..P `hark worker`
# processes on one queue, PostgreSQL beside SQLite, in one run.
#
#   bench/bench_workers.sh BUILD_DIR [FILES [PROCS [ENGINE]]]
#
# For each store (a SQLite file, then a private PostgreSQL from
# bench/pg_start.sh) and each P in 1..PROCS: an API-only `hark serve
# --workers 0` takes the first FILES recordings of ../shared/corpus/en
# (uploaded before the clock starts, no result cache), then P `hark worker
# --workers 1` processes start; the clock stops when every job is done
# (`hark jobs counts`). Reported: wall seconds, audio hours per hour
# (audio seconds / wall seconds), and PG / SQLite for each P.
# Defaults: 12 files, 3 processes, pocketsphinx (the default engine without a
# Whisper model).
set -euo pipefail

build=$(cd "${1:?usage: bench_workers.sh BUILD_DIR [FILES [PROCS [ENGINE]]]}" && pwd)
nfiles=${2:-12}
procs=${3:-3}
engine=${4:-pocketsphinx}
hark=$build/hark
corpus=$(cd "$(dirname "$0")/.." && pwd)/../shared/corpus/en
[ -d "$corpus" ] || { echo "bench_workers.sh: no corpus at $corpus" >&2; exit 1; }
mapfile -t files < <(ls "$corpus"/*.wav | head -n "$nfiles")
audio_s=$(for f in "${files[@]}"; do
    python3 -c "import wave,sys; w=wave.open(sys.argv[1]); print(w.getnframes()/w.getframerate())" "$f"
done | awk '{s += $1} END {printf "%.1f", s}')

. "$(dirname "$0")/pg_start.sh"
work=$pg_dir/work
mkdir -p "$work"
port=$((20000 + RANDOM % 20000))

echo "== $(lscpu | grep 'Model name' | sed 's/  */ /g'), $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $engine, ${#files[@]} files, ${audio_s} s of audio, 1 worker thread per process"

# one round: STORE_URI P -> prints wall seconds
round() {
    local uri=$1 p=$2 data=$work/data.$RANDOM serve i pids=() t0 t1 done_n
    mkdir -p "$data"
    "$hark" serve --db "$uri" --data-dir "$data" --cache-db none --workers 0 --engine "$engine" \
        --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
    serve=$!
    for i in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
    for f in "${files[@]}"; do
        curl -sf -H "Content-Type: audio/wav" --data-binary @"$f" "http://127.0.0.1:$port/v1/recordings?title=bench" >/dev/null ||
            { echo "bench_workers.sh: upload of $f failed (see $work/serve.log)" >&2; cat "$work/serve.log" >&2; exit 1; }
    done
    t0=$(date +%s.%N)
    for i in $(seq "$p"); do
        "$hark" worker --db "$uri" --workers 1 --no-cache -e "$engine" >"$work/worker.$i.log" 2>&1 &
        pids+=($!)
    done
    while :; do
        done_n=$("$hark" jobs counts --json --db "$uri" | python3 -c \
            'import json,sys; c=json.load(sys.stdin); print(c["done"]["total"] + c["dead"]["total"])')
        [ "$done_n" -ge "${#files[@]}" ] && break
        sleep 0.2
    done
    t1=$(date +%s.%N)
    kill -TERM "${pids[@]}" "$serve"
    wait "${pids[@]}" "$serve" 2>/dev/null || true
    echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}'
}

declare -A wall
for p in $(seq "$procs"); do
    sq=$work/q$p.db
    wall[sqlite,$p]=$(round "$sq" "$p")
    pg_createdb "q$p"
    wall[pg,$p]=$(round "$(pg_uri "q$p")" "$p")
done
printf '%-6s %12s %12s %14s %14s %9s\n' procs "SQLite s" "PG s" "SQLite h/h" "PG h/h" PG/SQLite
for p in $(seq "$procs"); do
    a=${wall[sqlite,$p]} b=${wall[pg,$p]}
    awk -v p="$p" -v a="$a" -v b="$b" -v s="$audio_s" \
        'BEGIN {printf "%-6s %12.2f %12.2f %14.2f %14.2f %9.2f\n", p, a, b, s / a, s / b, (s / b) / (s / a)}'
done
