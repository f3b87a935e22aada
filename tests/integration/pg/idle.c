/*
 * idle.c: a `hark serve` and a `hark worker` on one PostgreSQL, both idle,
 * send no statements at all: workers sleep on LISTEN/NOTIFY, leases are
 * renewed only while jobs run, and nothing polls.
 *
 * Counting: the harness's server is switched to log_statement = all with the
 * application name in every log line (ALTER SYSTEM + pg_reload_conf, reset
 * at the end), and each process connects with an application_name of its
 * own, so only its statements are counted (other schemas' tests, psql and
 * this test's own connection are not). The same count taken while a job is
 * submitted and transcribed proves the counting sees their statements.
 */
#define _DEFAULT_SOURCE
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pg_test.h"

#define IDLE_MS 30000
/* The bound: no statement at all while idle (see the file comment). */
#define IDLE_MAX_STATEMENTS 0

/* Start `hark serve` on the store; returns its pid once it listens. */
static pid_t start_serve(const char *uri, const char *out)
{
    const char *argv[] = {
        "hark",     "serve",      "--listen", "127.0.0.1:0", "--db",
        uri,        "--cache-db", uri,        "--data-dir",  harness_path("data"),
        "--engine", "test",       "--vad",    "off",         NULL
    };
    pid_t pid;
    int64_t until;

    setenv("XDG_CONFIG_HOME", harness_tmpdir(), 1); /* no settings file of the machine's */
    unlink(out);
    pid = pt_hark(out, argv);
    until = pt_now_ms() + 20000;
    while (pt_now_ms() < until) {
        char *o = harness_read_file(out, NULL);
        int st;
        int up = o && strstr(o, "listening on http://127.0.0.1:") != NULL;
        free(o);
        if (up)
            return pid;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            o = harness_read_file(out, NULL);
            harness_fail(__FILE__, __LINE__, "hark serve exited (status %d): %s", st, o ? o : "");
        }
        pt_sleep_ms(20);
    }
    kill(pid, SIGKILL);
    harness_fail(__FILE__, __LINE__, "hark serve did not start listening within 20 s");
    return -1;
}

TEST(pg_idle_serve_and_worker_send_no_statements)
{
    const char *uri = harness_pg_uri();
    const char *wlog = harness_path("worker.log"), *sout = harness_path("serve.out");
    const char *wav = harness_path("x.wav");
    hark_store *s = NULL;
    pid_t serve, worker;
    long from, idle, busy;
    int64_t id;

    harness_timeout(180);
    pt_statement_logging(1);
    serve = start_serve(pt_with_app(uri, "hark_idle_serve"), sout);
    worker = pt_worker(pt_with_app(uri, "hark_idle_worker"), wlog, "-e", "test", "--no-vad",
                       "--workers", "2", NULL);
    pt_wait_for_text(wlog, "running jobs of", 20000);
    pt_sleep_ms(2000); /* start-up: migrations, LISTEN, the first claims */

    from = pt_log_size();
    pt_sleep_ms(IDLE_MS);
    printf("statements while idle for %d s:\n", IDLE_MS / 1000);
    idle = pt_statements_since(from, "hark_idle_");
    printf("  %ld in all\n", idle);

    /* the same count sees their statements as soon as there is work */
    pt_wav(wav, 440.0, 3.0);
    ASSERT_OK(hark_store_open(&s, uri));
    from = pt_log_size();
    id = pt_submit(s, wav, "wake");
    pt_wait_done(s, &id, 1, 20000);
    pt_sleep_ms(300);
    busy = pt_statements_since(from, "hark_idle_");
    printf("statements for one job: %ld\n", busy);
    hark_store_free(s);

    ASSERT_EQ(pt_stop(worker, SIGTERM), 0);
    ASSERT_EQ(pt_stop(serve, SIGTERM), 0);
    pt_statement_logging(0);
    ASSERT_MSG(idle <= IDLE_MAX_STATEMENTS, "%ld statements while serve and worker were idle",
               idle);
    ASSERT_LT(0, busy);
}
