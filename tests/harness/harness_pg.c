/*
 * harness_pg.c: a real PostgreSQL for tests (see harness.h).
 *
 * With HARK_TEST_STORE=postgresql, a test binary's main() calls
 * harness_pg_setup() before running any test: unless HARK_TEST_PG_DSN
 * already names a server, it runs Debian's initdb into a temporary folder,
 * starts the server with pg_ctl on a Unix socket in that folder and on a
 * free loopback port (fsync off: tests need no durability across power
 * cuts), exports HARK_TEST_PG_DSN for the tests (which run in child
 * processes), and stops and removes everything when the binary exits. One
 * server per test binary; every test gets a fresh database of its own
 * (harness_pg_uri). PostgreSQL refuses to run as root: under root the
 * server runs as the `postgres` user that Debian's package creates.
 * PostgreSQL not installed: the binary exits 77 (skipped).
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char pg_dir[512];   /* the temporary folder: data/, the socket, log */
static char pg_bin[512];   /* folder of initdb and pg_ctl */
static char pg_as[64];     /* "runuser -u postgres -- " under root, else "" */
static char pg_opts[1400]; /* the server's options (pg_ctl start after a stop) */
static pid_t pg_owner_pid; /* the process that started the server (stops it at exit) */
static unsigned pg_port;

/* The folder holding initdb and pg_ctl: $HARK_PG_BIN, else the newest /usr/lib/postgresql/N/bin. */
static int find_bin(void)
{
    const char *env = getenv("HARK_PG_BIN");
    DIR *d;
    struct dirent *e;
    int best = 0;
    char path[600];

    if (env && *env) {
        snprintf(pg_bin, sizeof(pg_bin), "%s", env);
        snprintf(path, sizeof(path), "%s/initdb", pg_bin);
        return access(path, X_OK) == 0;
    }
    if (!(d = opendir("/usr/lib/postgresql")))
        return 0;
    while ((e = readdir(d))) {
        int v = atoi(e->d_name);
        snprintf(path, sizeof(path), "/usr/lib/postgresql/%s/bin/initdb", e->d_name);
        if (v > best && access(path, X_OK) == 0) {
            best = v;
            snprintf(pg_bin, sizeof(pg_bin), "/usr/lib/postgresql/%d/bin", v);
        }
    }
    closedir(d);
    return best > 0;
}

static unsigned free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    unsigned port = 0;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void pg_teardown(void)
{
    if (!pg_dir[0] || getpid() != pg_owner_pid)
        return; /* a test's child process exiting: the server is the parent's */
    harness_sh("%s'%s/pg_ctl' -D '%s/data' -m immediate -w stop >/dev/null 2>&1", pg_as, pg_bin,
               pg_dir);
    harness_sh("rm -rf '%s'", pg_dir);
    pg_dir[0] = '\0';
}

int harness_pg_ctl(const char *action)
{
    if (!pg_dir[0])
        return -1;
    if (!strcmp(action, "start")) /* after a stop: the socket, port and settings of the first */
        return harness_sh("%s'%s/pg_ctl' -D '%s/data' -l '%s/log' -w -t 60 -o \"%s\" start "
                          ">/dev/null 2>&1",
                          pg_as, pg_bin, pg_dir, pg_dir, pg_opts);
    return harness_sh("%s'%s/pg_ctl' -D '%s/data' -l '%s/log' -m fast -w %s >/dev/null 2>&1", pg_as,
                      pg_bin, pg_dir, pg_dir, action);
}

const char *harness_pg_dir(void)
{
    return pg_dir[0] ? pg_dir : NULL;
}

void harness_pg_setup(void)
{
    const char *store = getenv("HARK_TEST_STORE"), *dsn = getenv("HARK_TEST_PG_DSN");
    const char *base = getenv("TMPDIR");
    char dsn_buf[1200];
    struct passwd *pw = NULL;

    if (!store || strcmp(store, "postgresql") != 0 || (dsn && *dsn))
        return;
    if (!find_bin()) {
        printf("skip: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; "
               "tools/setup.sh installs it)\n");
        exit(77);
    }
    if (geteuid() == 0) {
        if (!(pw = getpwnam("postgres"))) {
            printf("skip: running as root and there is no postgres user to run PostgreSQL\n");
            exit(77);
        }
        snprintf(pg_as, sizeof(pg_as), "runuser -u postgres -- ");
    }
    snprintf(pg_dir, sizeof(pg_dir), "%s/hark-pg-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(pg_dir)) {
        fprintf(stderr, "harness: mkdtemp: %s\n", strerror(errno));
        exit(1);
    }
    pg_owner_pid = getpid();
    atexit(pg_teardown);
    if (pw && chown(pg_dir, pw->pw_uid, pw->pw_gid) != 0) {
        fprintf(stderr, "harness: chown %s: %s\n", pg_dir, strerror(errno));
        exit(1);
    }
    chmod(pg_dir, 0755);
    if (harness_sh("%s'%s/initdb' -D '%s/data' -A trust -U hark -E UTF8 --locale=C.UTF-8 "
                   "--no-sync >'%s/initdb.log' 2>&1",
                   pg_as, pg_bin, pg_dir, pg_dir) != 0) {
        fprintf(stderr, "harness: initdb failed:\n");
        harness_sh("cat '%s/initdb.log' >&2", pg_dir);
        exit(1);
    }
    pg_port = free_port();
    snprintf(pg_opts, sizeof(pg_opts),
             "-k '%s' -p %u -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
             "-c full_page_writes=off -c max_connections=300 -c shared_buffers=32MB",
             pg_dir, pg_port);
    if (harness_sh("%s'%s/pg_ctl' -D '%s/data' -l '%s/log' -w -t 60 -o \"%s\" start "
                   ">/dev/null 2>&1",
                   pg_as, pg_bin, pg_dir, pg_dir, pg_opts) != 0) {
        fprintf(stderr, "harness: pg_ctl start failed:\n");
        harness_sh("cat '%s/log' >&2", pg_dir);
        exit(1);
    }
    snprintf(dsn_buf, sizeof(dsn_buf), "postgresql://hark@/postgres?host=%s&port=%u", pg_dir,
             pg_port);
    {
        /* one database for the binary; tests get a schema each (instant, unlike a database),
         * with the unaccent extension (one per database) installed once, in public */
        PGconn *db = PQconnectdb(dsn_buf);
        PGresult *r = NULL;
        if (PQstatus(db) == CONNECTION_OK &&
            PQresultStatus(r = PQexec(db, "CREATE DATABASE hark_tests")) == PGRES_COMMAND_OK) {
            PQclear(r);
            PQfinish(db);
            snprintf(dsn_buf, sizeof(dsn_buf), "postgresql://hark@/hark_tests?host=%s&port=%u",
                     pg_dir, pg_port);
            db = PQconnectdb(dsn_buf);
            r = PQexec(db, "CREATE EXTENSION unaccent SCHEMA public");
        }
        if (PQstatus(db) != CONNECTION_OK || PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "harness: set up the test database: %s\n", PQerrorMessage(db));
            exit(1);
        }
        PQclear(r);
        PQfinish(db);
    }
    setenv("HARK_TEST_PG_DSN", dsn_buf, 1);
}

int harness_pg_active(void)
{
    const char *dsn = getenv("HARK_TEST_PG_DSN");
    return dsn && *dsn;
}

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* Run `sql` on the DSN's database; fails the test on an error. */
static void dsn_exec(PGconn *db, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        harness_fail(__FILE__, __LINE__, "%s: %s", sql, PQerrorMessage(db));
    PQclear(r);
}

const char *harness_pg_uri_named(const char *name)
{
    static char uris[8][1400];
    static int next;
    char *uri = uris[next++ & 7];
    const char *dsn = getenv("HARK_TEST_PG_DSN");
    char sql[256];
    PGconn *db;

    if (!dsn || !*dsn)
        harness_skip("no PostgreSQL (set HARK_TEST_STORE=postgresql or HARK_TEST_PG_DSN)");
    db = PQconnectdb(dsn);
    if (PQstatus(db) != CONNECTION_OK)
        harness_fail(__FILE__, __LINE__, "connect to %s: %s", dsn, PQerrorMessage(db));
    PQsetNoticeProcessor(db, quiet, NULL);
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", name);
    dsn_exec(db, sql);
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", name);
    dsn_exec(db, sql);
    /* the store's tables land in the schema first on the search path */
    snprintf(uri, sizeof(uris[0]),
             "postgresql://%s%s%s@/%s?host=%s&port=%s&options=-csearch_path%%3D%s%%2Cpublic",
             PQuser(db), PQpass(db) && *PQpass(db) ? ":" : "", PQpass(db) ? PQpass(db) : "",
             PQdb(db), PQhost(db), PQport(db), name);
    PQfinish(db);
    return uri;
}

const char *harness_pg_uri(void)
{
    static char uri[1400];
    char name[64];
    if (!uri[0]) {
        snprintf(name, sizeof(name), "hark_t%ld", (long)getpid());
        snprintf(uri, sizeof(uri), "%s", harness_pg_uri_named(name));
    }
    return uri;
}
