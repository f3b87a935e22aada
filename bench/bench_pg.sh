#!/usr/bin/env bash
# bench_pg.sh: the store on PostgreSQL beside SQLite, in one run on one machine.
#
#   bench/bench_pg.sh BUILD_DIR [RECORDINGS [SEGMENTS [QUEUE_JOBS [QUERIES]]]]
#
# Starts a private PostgreSQL (bench/pg_start.sh: fsync on, synchronous_commit
# off). Then, with the same seed (same archive, same queries, same list pages):
#   1. bench_store --core on a SQLite file, then on an empty PostgreSQL
#      database: insert rate through the store API the pipeline uses
#      (recording_create + segments_put, 100 segments per call), search p95
#      over the fixed mix, list page p95, database size;
#   2. bench_queue (claims/s with an empty engine, 1..3 processes) on both,
#      unless QUEUE_JOBS is 0.
# Defaults: 10000 recordings x 100 segments (1,000,000 segments), 2000 jobs,
# 200 queries per search class (bench_store's --queries).
# The server is stopped and its folder removed at exit.
set -euo pipefail

build=${1:?usage: bench_pg.sh BUILD_DIR [RECORDINGS [SEGMENTS [QUEUE_JOBS]]]}
recs=${2:-10000}
segs=${3:-100}
qjobs=${4:-2000}
queries=${5:-200}
. "$(dirname "$0")/pg_start.sh"
dir=$pg_dir
pg_createdb hark_store
pg_createdb hark_queue
uri=$(pg_uri hark_store)
quri=$(pg_uri hark_queue)

echo "== $(lscpu | grep 'Model name' | sed 's/  */ /g'), $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}'), fsync on, synchronous_commit off"
sqlite="${TMPDIR:-/tmp}/hark-bench-pg-$$.db"
echo "== bench_store --core, SQLite ($sqlite)"
nice "$build/bench/bench_store" --core --recordings "$recs" --segments "$segs" --queries "$queries" --db "$sqlite" |
    tee "$dir/sqlite.out" | grep -v '^  \.\.\.'
rm -f "$sqlite" "$sqlite-wal" "$sqlite-shm"
echo "== bench_store --core, PostgreSQL"
nice "$build/bench/bench_store" --core --recordings "$recs" --segments "$segs" --queries "$queries" --db "$uri" |
    tee "$dir/pg.out" | grep -v '^  \.\.\.'

echo
echo "== store, $((recs * segs)) segments: PostgreSQL beside SQLite"
awk '
    /^result:/ {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[FILENAME, kv[1]] = kv[2] }
    }
    END {
        n = split("insert_seg_s search_p50_ms search_p95_ms search_rec_p95_ms search_owner_p95_ms list_p95_ms list_owner_p95_ms db_bytes", k, " ")
        printf "%-22s %14s %14s %10s\n", "figure", "SQLite", "PostgreSQL", "PG/SQLite"
        for (i = 1; i <= n; i++) {
            a = v[ARGV[1], k[i]]; b = v[ARGV[2], k[i]]
            printf "%-22s %14s %14s %10.2f\n", k[i], a, b, (a > 0 ? b / a : 0)
        }
    }' "$dir/sqlite.out" "$dir/pg.out"

if [ "$qjobs" -gt 0 ]; then
    echo
    echo "== bench_queue --jobs $qjobs --procs 3"
    nice "$build/bench/bench_queue" --pg "$quri" --jobs "$qjobs" --procs 3
fi
