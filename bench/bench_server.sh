#!/usr/bin/env bash
# bench/bench_server.sh: figures for `hark serve`, each measured in this run,
# with its baseline measured in the same run (the machine is shared and noisy).
#
# usage: nice bench/bench_server.sh [--quick]      (HARK=path/to/hark to pick a binary)
#
# What it measures (one table at the end):
#   1. idle      RSS before any model loads (VmRSS), time from exec to the
#                first 200 from GET /health (median of 5 starts, each on a new
#                database; polled with bash's /dev/tcp, no process per try),
#                CPU ticks (utime+stime) over 10 idle seconds.
#   2. wrk       `wrk -t2 -c100 -d10s --latency` on GET /health and on
#                GET /v1/recordings?limit=20 with 100 recordings stored
#                (100 generated tones). With an API key when `hark keys`
#                exists (server started with --rate 1000000 so the per-key limit
#                does not answer instead), else unauthenticated.
#   3. queue     the first N corpus files (../shared/corpus/en, PocketSphinx)
#                through the server (upload all, wait until every job is
#                done) vs `hark transcribe -j W --no-store --no-cache` on the
#                same files (run before and after the server, the mean is
#                the baseline), both with W=2 workers: audio hours per wall
#                hour, the ratio, and CPU seconds of each. Also shown: two `hark transcribe -j 1`
#                processes on halves of the list (what two workers can do
#                when files, not chunks, are spread over them).
#   4. fairness  test engine with delay=MS per chunk: a 20-minute recording
#                (../shared/corpus/long, ~200 chunks) submitted, then at once
#                a 10 s one; the short job's latency (server's finished_ms -
#                created_ms) vs the same audio submitted alone. A FIFO
#                server would make it wait for the whole long job.
#   5. overload  test engine with delay, --max-queue 50: distinct 3 s speech
#                clips uploaded 8 at a time, faster than 2 workers drain; 429s
#                (each checked for Retry-After), peak RSS (VmHWM), and every
#                accepted upload's job checked to be done (nothing lost).
#
# Needs: curl, wrk, sox, ffmpeg (tools/setup.sh installs them), the corpus in
# ../shared (sections 3 and 4 are skipped without it). Everything lives in a
# temporary folder, removed at exit (KEEP=1 keeps it: logs, wrk output);
# servers started here are stopped at exit.
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARK=${HARK:-$ROOT/build/hark}
SHARED=${HARK_SHARED_DIR:-$ROOT/../shared}
QUICK=0
case "${1:-}" in
--quick) QUICK=1 ;;
"") ;;
-h | --help)
    sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "usage: $0 [--quick]" >&2
    exit 2
    ;;
esac

if ((QUICK)); then
    STARTS=3 IDLE_S=3 WRK_D=3 NREC=100 NQ=6 FAIR_DELAY=30 OVER_N=80 OVER_DELAY=500
else
    STARTS=5 IDLE_S=10 WRK_D=10 NREC=100 NQ=20 FAIR_DELAY=100 OVER_N=150 OVER_DELAY=500
fi
WORKERS=2

die() {
    echo "bench_server: $*" >&2
    exit 1
}
for t in curl wrk sox soxi ffmpeg; do
    command -v "$t" >/dev/null || die "$t is missing (tools/setup.sh installs it)"
done
[ -x "$HARK" ] || die "$HARK not built (cmake --build build --target hark_cli)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench_server.XXXXXX") || die "mktemp failed"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    if [ -n "${KEEP:-}" ]; then echo "bench_server: kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers -----------------------------------------------------------------------------------

now_us() { echo "${EPOCHREALTIME/./}"; }

# A port nobody listens on (the server still fails cleanly if it is taken meanwhile: retried).
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        if ! { exec 9<>"/dev/tcp/127.0.0.1/$p"; } 2>/dev/null; then
            echo "$p"
            return
        fi
        exec 9<&-
    done
}

# GET /health with bash alone: 0 when it answers 200.
health_ok() {
    local line
    { exec 8<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    printf 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&8
    IFS= read -r -t 2 line <&8
    exec 8<&-
    [[ $line == "HTTP/1."?" 200"* ]]
}

# start_server DIR [serve options...]: sets SRV_PID, SRV_URL, SRV_READY_MS.
start_server() {
    local dir=$1 t0 _
    shift
    mkdir -p "$dir"
    for _ in 1 2 3 4 5; do
        SRV_PORT=$(free_port)
        t0=${EPOCHREALTIME/./}
        "$HARK" serve --listen "127.0.0.1:$SRV_PORT" --db "$dir/hark.db" --cache-db none \
            --shutdown-grace 1s --log-level warn "$@" >>"$dir/log" 2>&1 &
        SRV_PID=$!
        PIDS+=("$SRV_PID")
        while kill -0 "$SRV_PID" 2>/dev/null; do
            if health_ok "$SRV_PORT"; then
                SRV_READY_MS=$(((${EPOCHREALTIME/./} - t0) / 1000))
                SRV_URL="http://127.0.0.1:$SRV_PORT"
                return 0
            fi
            ((${EPOCHREALTIME/./} - t0 > 20000000)) && break # no fork in this loop
        done
        stop_server
        grep -q 'Address already in use' "$dir/log" 2>/dev/null || break
    done
    cat "$dir/log" >&2
    die "the server in $dir did not start"
}

stop_server() {
    kill -TERM "$SRV_PID" 2>/dev/null
    wait "$SRV_PID" 2>/dev/null
}

kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
ticks() {
    local s
    s=$(<"/proc/$1/stat")
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    echo $((${12} + ${13}))
}

# A metric's value (first series whose name+labels start with $1).
metric() { curl -s "${AUTH[@]}" "$SRV_URL/metrics" | awk -v m="$1" 'index($0, m) == 1 { print $NF; exit }'; }
jobs_done() { metric 'hark_runner_jobs_total{outcome="done"}'; }
jobs_dead() { metric 'hark_runner_jobs_total{outcome="dead"}'; }

# wait_done N TIMEOUT_S: until N jobs are done (0) or timeout/dead jobs (1). Polls every 50 ms.
wait_done() {
    local n=$1 limit=$(($(now_us) + $2 * 1000000)) d
    while (($(now_us) < limit)); do
        d=$(jobs_done)
        (("${d:-0}" >= n)) && return 0
        (("$(jobs_dead)" > 0)) && return 1
        sleep 0.05
    done
    return 1
}

json_int() { grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }

# upload FILE [curl args...]: prints the answer's body
upload() {
    local f=$1
    shift
    curl -s "${AUTH[@]}" -H 'Content-Type: application/octet-stream' --data-binary "@$f" "$@" \
        "$SRV_URL/v1/recordings"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# wrk's "99%  3.21ms" -> ms
to_ms() { awk '{ v = $1 + 0; if ($1 ~ /us$/) v /= 1000; else if ($1 ~ /ms$/) v += 0; else if ($1 ~ /s$/) v *= 1000; print v }'; }

ROWS=()
row() { ROWS+=("$(printf '| %-44s | %18s | %-16s | %-4s |' "$1" "$2" "$3" "$4")"); }
ok() { awk "BEGIN { exit !($1) }" && echo yes || echo NO; }

CPU=$(lscpu | awk -F: '/Model name/ { sub(/^ +/, "", $2); print $2; exit }')
BUILD=$(awk -F= '/^CMAKE_BUILD_TYPE:/ { print $2 }' "$(dirname "$HARK")/CMakeCache.txt" 2>/dev/null)
echo "bench_server: $HARK (${BUILD:-unknown build type}), CPU: $CPU, $(nproc) cores$( ((QUICK)) && echo ', --quick')"
AUTH=()

# ---- 1. idle -----------------------------------------------------------------------------------

echo "[1/5] idle: $STARTS starts, then ${IDLE_S}s idle" >&2
starts=() rss_max=0
for i in $(seq "$STARTS"); do
    start_server "$TMP/idle$i" --engine pocketsphinx --workers "$WORKERS"
    starts+=("$SRV_READY_MS")
    r=$(kb "$SRV_PID" VmRSS)
    ((r > rss_max)) && rss_max=$r
    if ((i < STARTS)); then stop_server; fi
done
loaded=$(curl -s "$SRV_URL/health/ready" | grep -o '"model_loaded":[a-z]*' | cut -d: -f2)
sleep 1 # let the start settle (first health answers, log writes)
t0=$(ticks "$SRV_PID")
sleep "$IDLE_S"
t1=$(ticks "$SRV_PID")
idle_rss=$(kb "$SRV_PID" VmRSS)
stop_server
start_med=$(printf '%s\n' "${starts[@]}" | median)
row "idle RSS, model not loaded (max of $STARTS starts)" "$((rss_max / 1024)).$(((rss_max % 1024) * 10 / 1024)) MB" "< 30 MB" "$(ok "$rss_max < 30*1024")"
row "exec -> GET /health 200 (median of $STARTS)" "$start_med ms" "< 200 ms" "$(ok "$start_med < 200")"
row "  (each start, ms)" "$(
    IFS=,
    echo "${starts[*]}"
)" "" ""
row "  RSS after ${IDLE_S}s idle" "$((idle_rss / 1024)) MB" "" ""
row "CPU ticks over ${IDLE_S}s idle (utime+stime)" "$((t1 - t0))" "0" "$(ok "$t1 - $t0 == 0")"
[ "$loaded" = false ] || echo "bench_server: note: /health/ready said model_loaded=$loaded at idle" >&2

# ---- 2. wrk ------------------------------------------------------------------------------------

echo "[2/5] wrk: $NREC recordings, ${WRK_D}s per URL" >&2
D=$TMP/wrk
mkdir -p "$D/wav"
KEY="" rate=()
if "$HARK" keys --help >/dev/null 2>&1; then
    KEY=$("$HARK" keys create --admin --db "$D/hark.db" 2>&1 | grep -oE 'hark_[0-9a-f]{64}' | head -1)
    [ -n "$KEY" ] || die "hark keys create gave no key"
    AUTH=(-H "Authorization: Bearer $KEY")
    rate=(--rate 1000000 --burst 1000000) # the per-key limit would answer 429 instead
fi
start_server "$D" --engine test --workers "$WORKERS" "${rate[@]}"
for i in $(seq "$NREC"); do
    sox -n -r 16000 -c 1 -b 16 "$D/wav/t$i.wav" synth 1 sine $((100 + 7 * i)) 2>/dev/null
    upload "$D/wav/t$i.wav" -o /dev/null -w '%{http_code}\n' >>"$D/codes"
done
n202=$(grep -c '^202$' "$D/codes")
[ "$n202" = "$NREC" ] || die "uploads for wrk: $n202 of $NREC accepted"
wait_done "$NREC" 60 || die "the $NREC tone jobs did not finish"
wrk_run() { # URL -> "rps p99_ms non2xx"
    local out
    out=$(wrk -t2 -c100 -d"${WRK_D}s" --latency "${AUTH[@]}" "$1" 2>&1)
    echo "$out" >>"$D/wrk.txt"
    printf '%s %s %s\n' \
        "$(echo "$out" | awk '/^Requests\/sec:/ { printf "%d", $2 }')" \
        "$(echo "$out" | awk '$1 == "99%" { print $2 }' | to_ms)" \
        "$(echo "$out" | awk '/Non-2xx/ { print $NF }')"
}
read -r h_rps h_p99 h_bad <<<"$(wrk_run "$SRV_URL/health")"
read -r l_rps l_p99 l_bad <<<"$(wrk_run "$SRV_URL/v1/recordings?limit=20")"
n_listed=$(curl -s "${AUTH[@]}" "$SRV_URL/v1/recordings?limit=20" | grep -o '"id":' | wc -l)
wrk_rss=$(kb "$SRV_PID" VmHWM)
stop_server
[ -n "$KEY" ] && who="with API key" || who="no API key: 'hark keys' absent"
row "wrk /health: requests/s" "$h_rps" "> 20000" "$(ok "${h_rps:-0} > 20000")"
row "wrk /health: p99" "$h_p99 ms" "< 5 ms" "$(ok "${h_p99:-999} < 5")"
row "wrk /v1/recordings?limit=20 ($n_listed shown): req/s" "$l_rps" "> 5000" "$(ok "${l_rps:-0} > 5000")"
row "wrk /v1/recordings?limit=20: p99" "$l_p99 ms" "< 10 ms" "$(ok "${l_p99:-999} < 10")"
row "  (list page: $who)" "" "" ""
row "  non-2xx answers under wrk (health, list)" "${h_bad:-0}, ${l_bad:-0}" "0, 0" "$(ok "${h_bad:-0} + ${l_bad:-0} == 0")"
row "  peak RSS after wrk (VmHWM)" "$((wrk_rss / 1024)) MB" "" ""
AUTH=()

# ---- 3. queue throughput -----------------------------------------------------------------------

if compgen -G "$SHARED/corpus/en/*.wav" >/dev/null; then
    echo "[3/5] queue: $NQ corpus files, PocketSphinx, $WORKERS workers" >&2
    D=$TMP/queue
    mkdir -p "$D"
    files=("$SHARED"/corpus/en/*.wav)
    files=("${files[@]:0:NQ}")
    audio_s=$(soxi -D "${files[@]}" | awk '{ s += $1 } END { printf "%.3f", s }')
    ahwh() { awk -v a="$audio_s" -v w="$1" 'BEGIN { printf "%.1f", a / (w / 1000) }'; } # audio h / wall h

    HZ=$(getconf CLK_TCK)
    TIMEFORMAT='%3R %3U %3S'
    cli_run() { # OUTDIR JOBS FILES... -> "wall_ms cpu_ms"
        local out=$1 j=$2 t
        shift 2
        t=$({ time "$HARK" transcribe -e pocketsphinx --no-store --no-cache -q -j "$j" -f txt \
            -o "$out" "$@" 2>"$D/cli.err"; } 2>&1) || die "hark transcribe failed: $(cat "$D/cli.err")"
        awk '{ printf "%d %d\n", $1 * 1000, ($2 + $3) * 1000 }' <<<"$t"
    }

    # baseline: the CLI, one process, files in turn, W workers on each file's chunks; run
    # before and after the server (A B A) so a change of load on the machine shows
    read -r cli_ms cli_cpu <<<"$(cli_run "$D/cli" "$WORKERS" "${files[@]}")"

    # the server: upload all (sequentially, as one client would), wait for every job
    start_server "$D/srv" --engine pocketsphinx --workers "$WORKERS"
    c0=$(ticks "$SRV_PID")
    t0=$(now_us)
    for f in "${files[@]}"; do
        upload "$f" -o /dev/null -w '%{http_code}\n' >>"$D/codes"
    done
    up_ms=$((($(now_us) - t0) / 1000))
    n202=$(grep -c '^202$' "$D/codes")
    wait_done "$n202" 900 || die "server jobs did not finish (dead: $(jobs_dead))"
    srv_ms=$((($(now_us) - t0) / 1000))
    srv_cpu=$((($(ticks "$SRV_PID") - c0) * 1000 / HZ))
    q_rss=$(kb "$SRV_PID" VmHWM)
    stop_server

    read -r cli2_ms cli2_cpu <<<"$(cli_run "$D/cli2" "$WORKERS" "${files[@]}")"

    # context: two single-worker CLI processes on halves of the list
    half=$(((NQ + 1) / 2))
    t0=$(now_us)
    cli_run "$D/cli3" 1 "${files[@]:0:half}" >/dev/null &
    p1=$!
    cli_run "$D/cli3" 1 "${files[@]:half}" >/dev/null &
    p2=$!
    wait "$p1" || die "hark transcribe (first half) failed"
    wait "$p2" || die "hark transcribe (second half) failed"
    cli3_ms=$((($(now_us) - t0) / 1000))

    cli_avg=$(((cli_ms + cli2_ms) / 2))
    cpu_avg=$(((cli_cpu + cli2_cpu) / 2))
    ratio=$(awk -v s="$srv_ms" -v c="$cli_avg" 'BEGIN { printf "%.3f", c / s }')
    cratio=$(awk -v s="$srv_cpu" -v c="$cpu_avg" 'BEGIN { printf "%.3f", s / c }')
    row "queue: $n202 files, ${audio_s}s audio, $WORKERS workers" "" "" ""
    row "  hark transcribe -j $WORKERS, before server" "$(ahwh "$cli_ms") ah/wh" "" ""
    row "  hark serve, upload all + wait done" "$(ahwh "$srv_ms") ah/wh" "" ""
    row "  hark transcribe -j $WORKERS, after server" "$(ahwh "$cli2_ms") ah/wh" "" ""
    row "  server / CLI throughput (CLI: mean wall)" "$ratio" ">= 0.95" "$(ok "$ratio >= 0.95")"
    row "  CPU s: server / CLI (mean)" "$((srv_cpu / 1000)) / $((cpu_avg / 1000)) = $cratio" "" ""
    row "  $n202 sequential uploads (fsync each)" "$up_ms ms" "" ""
    row "  (2 x hark transcribe -j 1 on halves)" "$(ahwh "$cli3_ms") ah/wh" "" ""
    row "  server peak RSS, PocketSphinx loaded" "$((q_rss / 1024)) MB" "" ""
else
    echo "[3/5] queue: skipped, no corpus in $SHARED" >&2
    row "queue throughput" "skipped: no corpus" "" ""
fi

# ---- 4. fairness -------------------------------------------------------------------------------

LONG=$SHARED/corpus/long/4088-158077.wav
if [ -f "$LONG" ] && compgen -G "$SHARED/corpus/en/*.wav" >/dev/null; then
    echo "[4/5] fairness: test engine, delay=${FAIR_DELAY}ms per chunk" >&2
    D=$TMP/fair
    mkdir -p "$D"
    first=("$SHARED"/corpus/en/*.wav)
    # the same 10 s of audio, different bytes (a comment in the header) so each upload is new
    for v in a b c d; do
        ffmpeg -nostdin -loglevel error -y -i "${first[0]}" -t 10 -metadata comment="bench $v" \
            -c:a pcm_s16le "$D/short_$v.wav" || die "ffmpeg failed"
    done
    start_server "$D" --engine test --model "delay=$FAIR_DELAY" --workers "$WORKERS"
    latency() { # job id -> finished_ms - created_ms
        curl -s "$SRV_URL/v1/jobs/$1" | awk '{
            match($0, /"created_ms":[0-9]+/); c = substr($0, RSTART + 13, RLENGTH - 13)
            match($0, /"finished_ms":[0-9]+/); f = substr($0, RSTART + 14, RLENGTH - 14)
            print f - c }'
    }
    alone=() done_n=0
    for v in a b c; do
        j=$(upload "$D/short_$v.wav" | json_int job)
        done_n=$((done_n + 1))
        wait_done "$done_n" 60 || die "short job did not finish"
        alone+=("$(latency "$j")")
    done
    alone_ms=$(printf '%s\n' "${alone[@]}" | median)
    jl=$(upload "$LONG" | json_int job)
    js=$(upload "$D/short_d.wav" | json_int job)
    done_n=$((done_n + 2))
    wait_done "$done_n" 600 || die "long+short jobs did not finish"
    mixed_ms=$(latency "$js")
    long_ms=$(latency "$jl")
    chunks=$(curl -s "$SRV_URL/v1/jobs/$jl" | grep -o '"chunks_total":[0-9]*' | cut -d: -f2)
    stop_server
    fratio=$(awk -v m="$mixed_ms" -v a="$alone_ms" 'BEGIN { printf "%.2f", m / a }')
    fifo=$(awk -v l="$long_ms" -v a="$alone_ms" 'BEGIN { printf "%.1f", (l + a) / a }')
    row "fairness: 10 s job alone (median of 3)" "$alone_ms ms" "" ""
    row "  10 s job right after a 20 min one" "$mixed_ms ms" "" ""
    row "  ratio (with long / alone)" "$fratio" "small" ""
    row "  long job ($chunks chunks x ${FAIR_DELAY} ms)" "$long_ms ms" "" ""
    row "  FIFO would give (long + alone) / alone" "$fifo" "" ""
else
    echo "[4/5] fairness: skipped, no corpus in $SHARED" >&2
    row "fairness" "skipped: no corpus" "" ""
fi

# ---- 5. overload -------------------------------------------------------------------------------

if compgen -G "$SHARED/corpus/en/*.wav" >/dev/null; then
    echo "[5/5] overload: $OVER_N uploads, --max-queue 50, delay=${OVER_DELAY}ms" >&2
    D=$TMP/over
    mkdir -p "$D/wav" "$D/ans"
    all=("$SHARED"/corpus/en/*.wav)
    for i in $(seq 0 $((OVER_N - 1))); do # distinct (file, offset) pairs: distinct bytes
        sox -V1 "${all[i % ${#all[@]}]}" "$D/wav/c$i.wav" trim "0.$((i / ${#all[@]}))" 3 || die "sox failed"
    done
    start_server "$D" --engine test --model "delay=$OVER_DELAY" --workers "$WORKERS" --max-queue 50
    export SRV_URL D
    t0=$(now_us)
    seq 0 $((OVER_N - 1)) | xargs -P 8 -I{} curl -s -o "$D/ans/{}" \
        -w '{} %{http_code} %header{retry-after}\n' -H 'Content-Type: application/octet-stream' \
        --data-binary "@$D/wav/c{}.wav" "$SRV_URL/v1/recordings" >"$D/codes"
    up_ms=$((($(now_us) - t0) / 1000))
    acc=$(awk '$2 == 202' "$D/codes" | wc -l)
    n429=$(awk '$2 == 429' "$D/codes" | wc -l)
    n429ra=$(awk '$2 == 429 && $3 ~ /^[0-9]+$/' "$D/codes" | wc -l)
    other=$(awk '$2 != 202 && $2 != 429' "$D/codes" | wc -l)
    t0=$(now_us)
    wait_done "$acc" 600
    drain_ms=$((($(now_us) - t0) / 1000))
    lost=0
    while read -r i code _; do
        [ "$code" = 202 ] || continue
        j=$(json_int job <"$D/ans/$i")
        curl -s "$SRV_URL/v1/jobs/$j" | grep -q '"state":"done"' || lost=$((lost + 1))
    done <"$D/codes"
    o_rss=$(kb "$SRV_PID" VmHWM)
    stop_server
    row "overload: $OVER_N uploads (8 at once) in" "$up_ms ms" "" ""
    row "  accepted (202)" "$acc" "" ""
    row "  refused 429, with Retry-After" "$n429, $n429ra" "all have it" "$(ok "$n429 > 0 && $n429 == $n429ra")"
    row "  other answers" "$other" "0" "$(ok "$other == 0")"
    row "  accepted jobs not done (after ${drain_ms} ms drain)" "$lost" "0" "$(ok "$lost == 0")"
    row "  peak RSS (VmHWM)" "$((o_rss / 1024)) MB" "" ""
fi

# ---- the table ---------------------------------------------------------------------------------

echo
echo "hark serve, $(date -u +%F), CPU: $CPU ($(nproc) cores), build: ${BUILD:-?}, workers: $WORKERS$( ((QUICK)) && echo ', --quick')"
echo
printf '| %-44s | %18s | %-16s | %-4s |\n' "measure" "value" "target" "met"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..19}):" \
    "$(printf -- '-%.0s' {1..18})" "$(printf -- '-%.0s' {1..6})"
printf '%s\n' "${ROWS[@]}"
