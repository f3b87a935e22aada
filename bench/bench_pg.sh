#!/usr/bin/env bash
# bench_pg.sh: the store on PostgreSQL beside SQLite, in one run on one machine.
#
#   bench/bench_pg.sh BUILD_DIR [RECORDINGS [SEGMENTS [QUEUE_JOBS [QUERIES]]]]
#
# Starts a private PostgreSQL (Debian's initdb and pg_ctl, as harness_pg.c
# does: a temporary folder, a Unix socket, the `postgres` user under root),
# with fsync on and synchronous_commit off: a commit survives a crash of
# the process but may be lost on a power cut, as with SQLite's WAL and
# synchronous=NORMAL. Then, with the same seed (same archive, same queries,
# same list pages):
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
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "bench_pg.sh: PostgreSQL is not installed" >&2; exit 1; }
as=()
if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/hark-bench-pg-XXXXXX")
chmod 755 "$dir"
[ ${#as[@]} -eq 0 ] || chown postgres: "$dir"
cleanup() {
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
"${as[@]}" "$bin/initdb" -D "$dir/data" -A trust -U hark -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
    -o "-k '$dir' -c listen_addresses='' -c synchronous_commit=off" start >/dev/null
psql_() { psql -X -q -h "$dir" -U hark "$@"; }
psql_ -d postgres -c "CREATE DATABASE hark_store" -c "CREATE DATABASE hark_queue"
psql_ -d hark_store -c "CREATE EXTENSION unaccent"
psql_ -d hark_queue -c "CREATE EXTENSION unaccent"
uri="postgresql://hark@/hark_store?host=$dir"
quri="postgresql://hark@/hark_queue?host=$dir"

echo "== $(lscpu | grep 'Model name' | sed 's/  */ /g'), $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== PostgreSQL $("$bin/postgres" --version | awk '{print $3}'), fsync on, synchronous_commit off"
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
