# pg_start.sh: sourced by the PostgreSQL benchmarks. Starts a private
# PostgreSQL (Debian's initdb and pg_ctl, as tests/harness/harness_pg.c does:
# a temporary folder, a Unix socket only, the `postgres` user under root)
# with fsync on and synchronous_commit off: a commit survives a crash of the
# process but may be lost on a power cut, as with SQLite's WAL and
# synchronous=NORMAL. Stopped and removed at exit.
#
# Sets: pg_dir (the folder), pg_bin, psql_ (a function: psql as hark on it),
# pg_uri DB (prints the URI of database DB on it), pg_createdb DB.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pg_bin/initdb" ] || { echo "${0##*/}: PostgreSQL is not installed" >&2; exit 1; }
pg_as=()
if [ "$(id -u)" = 0 ]; then pg_as=(runuser -u postgres --); fi

pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/hark-bench-pg-XXXXXX")
chmod 755 "$pg_dir"
[ ${#pg_as[@]} -eq 0 ] || chown postgres: "$pg_dir"
pg_cleanup() {
    "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
}
trap pg_cleanup EXIT
"${pg_as[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U hark -E UTF8 --locale=C.UTF-8 \
    >"$pg_dir/initdb.log" 2>&1
"${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w -t 60 \
    -o "-k '$pg_dir' -c listen_addresses='' -c synchronous_commit=off" start >/dev/null
psql_() { psql -X -q -h "$pg_dir" -U hark "$@"; }
pg_uri() { echo "postgresql://hark@/$1?host=$pg_dir"; }
pg_createdb() {
    psql_ -d postgres -c "CREATE DATABASE $1"
    psql_ -d "$1" -c "CREATE EXTENSION unaccent"
}
