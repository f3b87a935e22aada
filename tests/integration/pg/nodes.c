/*
 * nodes.c: hark scaled out on one PostgreSQL: API-only `hark serve
 * --workers 0` nodes take the uploads, `hark worker` processes transcribe
 * them. Every chunk is transcribed once (engine calls counted through the
 * test engine's log), transcripts are those of a single node, the result
 * cache is shared through the store (`hark transcribe --db` on it is a hit),
 * and the whole survives a PostgreSQL restart and connections killed
 * mid-transaction (pg_terminate_backend) with no job lost or duplicated. A
 * live session whose node is killed resumes on another node (shared store
 * and data directory).
 */
#define _DEFAULT_SOURCE
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "pg_test.h"
#include "store/store.h"

#define N_FILES 30

/* Start `hark serve --db uri --listen 127.0.0.1:0 --data-dir <tmp>/data` plus `extra` (shell
 * words); its stderr goes to <tmp>/<name>.log. */
static void node_start(server *sv, const char *uri, const char *name, const char *extra)
{
    char opts[2048];
    snprintf(opts, sizeof(opts), "--data-dir '%s/data' %s", harness_tmpdir(), extra ? extra : "");
    server_start_node(sv, uri, name, opts);
}

/* Still running (not crashed)? */
static int alive(pid_t pid)
{
    int st;
    return waitpid(pid, &st, WNOHANG) == 0;
}

/* A tone file <tmp>/f<i>.wav: a distinct frequency per file (not a whole number of cycles per
 * chunk, so no two chunks anywhere are alike) and 6 to 26 s long (1 to 3 chunks of 10 s). */
static const char *tone_file(size_t i, double seconds)
{
    static char paths[64][600];
    char *p = paths[i % 64];
    snprintf(p, sizeof(paths[0]), "%s/f%zu.wav", harness_tmpdir(), i);
    pt_wav(p, 200.37 + 50.0 * (double)i, seconds > 0 ? seconds : 6.0 + (double)(i % 5) * 5.0);
    return p;
}

/* POST the file to /v1/recordings; the job id (and the recording's in *rec). */
static int64_t upload(const server *sv, const char *wav, int64_t *rec)
{
    reply r = http_form(sv, "/v1/recordings", NULL, NULL, wav);
    json_error_t je;
    json_t *j;
    int64_t job;
    ASSERT_MSG(r.status == 201 || r.status == 200 || r.status == 202, "upload: %ld %s", r.status,
               r.body ? r.body : "");
    j = json_loads(r.body, 0, &je);
    ASSERT(j != NULL);
    job = (int64_t)json_integer_value(json_object_get(j, "job"));
    if (rec)
        *rec = (int64_t)json_integer_value(json_object_get(j, "recording"));
    ASSERT(job > 0);
    json_decref(j);
    reply_free(&r);
    return job;
}

/* The recording's transcript as text, from node `sv` (caller frees). */
static char *transcript_txt(const server *sv, int64_t rec)
{
    char path[128];
    reply r;
    char *t;
    snprintf(path, sizeof(path), "/v1/recordings/%lld/transcript?format=txt", (long long)rec);
    r = http(sv, "GET", path, NULL, NULL, 0);
    ASSERT_MSG(r.status == 200, "%s: %ld %s", path, r.status, r.body ? r.body : "");
    t = strdup(r.body);
    reply_free(&r);
    return t;
}

/*
 * The test engine's log: "<pid> <chunk> <samples> <text>" per engine call. Files differ in
 * frequency (text "f<hz> ...") and chunks of one file in index, so "<chunk> <samples> <text>"
 * names one chunk of one file. Returns the number of distinct chunks; *calls the lines,
 * *twice the chunks transcribed more than once.
 */
static size_t engine_chunks(const char *log, size_t *calls, size_t *twice)
{
    char *text = harness_read_file(log, NULL), *p, *nl;
    char **keys = NULL;
    size_t n = 0, cap = 0, i;
    *calls = *twice = 0;
    if (!text)
        return 0;
    for (p = text; *p; p = nl + 1) {
        char *key;
        int seen = 0;
        if (!(nl = strchr(p, '\n')))
            break;
        *nl = '\0';
        key = strchr(p, ' ');
        ASSERT(key != NULL);
        (*calls)++;
        for (i = 0; i < n && !seen; i++)
            seen = strcmp(keys[i], key + 1) == 0;
        if (seen) {
            (*twice)++;
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            keys = realloc(keys, cap * sizeof(*keys));
            ASSERT(keys != NULL);
        }
        keys[n++] = key + 1;
    }
    free(keys);
    free(text);
    return n;
}

/* Sum of chunks_total over the jobs; each must be done with its chunk count final. */
static size_t chunks_of(hark_store *s, const int64_t *ids, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        hark_job *j = NULL;
        ASSERT_OK(hark_store_job_get(s, ids[i], &j));
        ASSERT_EQ(j->state, HARK_JOB_DONE);
        ASSERT(j->chunks_final);
        ASSERT_EQ(j->chunks_done, j->chunks_total);
        total += j->chunks_total;
        hark_job_free(j);
    }
    return total;
}

/* Jobs in the store, whatever their state. */
static uint64_t jobs_in_store(hark_store *s)
{
    hark_job_counts c;
    uint64_t n = 0;
    ASSERT_OK(hark_store_job_counts(s, &c));
    for (size_t i = 0; i < HARK_JOB_STATE_COUNT; i++)
        for (size_t k = 0; k < HARK_PRIORITY_COUNT; k++)
            n += c.n[i][k];
    return n;
}

TEST(pg_two_api_nodes_three_workers_each_chunk_once_same_transcripts_shared_cache)
{
    const char *uri = harness_pg_uri();
    const char *elog = harness_path("engine.log"), *slog = harness_path("single.log");
    char model[700], extra[1000], smodel[700], *out;
    const char *wav[N_FILES];
    server api[2], single;
    hark_store *s = NULL;
    int64_t jobs[N_FILES], recs[N_FILES], sjobs[N_FILES], srecs[N_FILES];
    size_t i, calls, twice, chunks, before;
    pid_t w[3];
    int st;

    harness_timeout(240);
    ASSERT_OK(hark_store_open(&s, uri)); /* creates the schema before the nodes race to */
    snprintf(model, sizeof(model), "delay=20,log=%s", elog);
    snprintf(extra, sizeof(extra), "--workers 0 --engine test --model '%s' --vad off", model);
    node_start(&api[0], uri, "api0", extra);
    node_start(&api[1], uri, "api1", extra);
    for (i = 0; i < 2; i++) {
        char *log = server_log(&api[i]);
        ASSERT_CONTAINS(log, "API only (workers = 0)");
        free(log);
    }
    /* an API-only node says so, and runs nothing: nothing is claimed without workers */
    {
        reply r = http(&api[0], "GET", "/health/ready", NULL, NULL, 0);
        ASSERT_EQ(r.status, 200);
        ASSERT_CONTAINS(r.body, "\"workers\":0");
        reply_free(&r);
    }
    for (i = 0; i < N_FILES; i++) {
        wav[i] = tone_file(i, 0);
        jobs[i] = upload(&api[i % 2], wav[i], &recs[i]);
    }
    pt_sleep_ms(500);
    {
        hark_job_counts c;
        uint64_t running = 0, done = 0;
        ASSERT_OK(hark_store_job_counts(s, &c));
        for (size_t k = 0; k < HARK_PRIORITY_COUNT; k++) {
            running += c.n[HARK_JOB_RUNNING][k];
            done += c.n[HARK_JOB_DONE][k];
        }
        ASSERT_EQ(running + done, 0);
        ASSERT_EQ(pt_count_lines(elog, 0), 0);
    }
    /* three workers on the same store take the jobs */
    for (i = 0; i < 3; i++) {
        char wl[64];
        snprintf(wl, sizeof(wl), "w%zu.log", i);
        w[i] = pt_worker(uri, harness_path(wl), "-e", "test", "--no-vad", "-m", model, "--workers",
                         "1", NULL);
    }
    for (i = 0; i < N_FILES; i++) {
        const char *state = wait_job(&api[(i + 1) % 2], NULL, jobs[i], 120000);
        ASSERT_MSG(state && !strcmp(state, "done"), "job %lld: %s", (long long)jobs[i],
                   state ? state : "timeout");
    }
    /* a synchronous (OpenAI) transcription through an API-only node: a worker runs it, and
     * the node answers when the store says it is done */
    {
        const char *fields[] = { "response_format", "text", NULL };
        reply r = http_form(&api[1], "/v1/audio/transcriptions", NULL, fields,
                            tone_file(N_FILES + 5, 6.0));
        ASSERT_MSG(r.status == 200, "%ld %s", r.status, r.body ? r.body : "");
        ASSERT_CONTAINS(r.body, "f1950 ");
        reply_free(&r);
    }
    chunks = chunks_of(s, jobs, N_FILES) + 1; /* and the OpenAI request's one chunk */
    ASSERT(chunks >= 2 * N_FILES);
    /* every chunk transcribed exactly once, by one worker or another; all three worked */
    ASSERT_EQ(engine_chunks(elog, &calls, &twice), chunks);
    ASSERT_EQ(calls, chunks);
    ASSERT_EQ(twice, 0);
    for (i = 0; i < 3; i++)
        ASSERT(pt_count_lines(elog, w[i]) > 0);

    /* the same files on a single node (its own workers, its own store) give the same text */
    snprintf(smodel, sizeof(smodel), "delay=20,log=%s", slog);
    snprintf(extra, sizeof(extra), "--workers 2 --engine test --model '%s' --vad off", smodel);
    node_start(&single, harness_pg_uri_named("single_node"), "single", extra);
    for (i = 0; i < N_FILES; i++)
        sjobs[i] = upload(&single, wav[i], &srecs[i]);
    for (i = 0; i < N_FILES; i++) {
        const char *state = wait_job(&single, NULL, sjobs[i], 120000);
        char *a, *b;
        ASSERT_MSG(state && !strcmp(state, "done"), "single node, job %lld: %s",
                   (long long)sjobs[i], state ? state : "timeout");
        a = transcript_txt(&single, srecs[i]);
        b = transcript_txt(&api[(i + 1) % 2], recs[i]); /* from the node it was not sent to */
        ASSERT(strlen(a) > 0);
        ASSERT_STREQ(b, a);
        free(a);
        free(b);
    }
    ASSERT_EQ(server_stop(&single, SIGTERM, 20000), 0);

    /* the CLI on the shared store: the cache a worker filled answers it, no engine call */
    before = pt_count_lines(elog, 0);
    out = harness_sh_output(&st, "'%s' transcribe --db '%s' -e test --no-vad -m '%s' '%s' 2>&1",
                            harness_hark_bin(), uri, model, wav[7]);
    ASSERT_MSG(st == 0, "hark transcribe: %s", out);
    ASSERT_CONTAINS(out, "from the cache");
    ASSERT_EQ(pt_count_lines(elog, 0), before);
    {
        char *t = transcript_txt(&api[0], recs[7]);
        ASSERT_CONTAINS(out, t);
        free(t);
    }
    free(out);
    /* hark cache on that store reads the shared cache (not a local file): the hit is counted */
    out = harness_sh_output(&st, "'%s' cache stats --json --db '%s' 2>&1", harness_hark_bin(), uri);
    ASSERT_MSG(st == 0, "hark cache stats: %s", out);
    ASSERT_MSG(strstr(out, "\"entries\": 0,") == NULL && strstr(out, "\"hits\": 0,") == NULL,
               "hark cache stats --db: %s", out);
    free(out);

    for (i = 0; i < 3; i++)
        ASSERT_EQ(pt_stop(w[i], SIGTERM), 0);
    ASSERT_EQ(server_stop(&api[0], SIGTERM, 20000), 0);
    ASSERT_EQ(server_stop(&api[1], SIGTERM, 20000), 0);
    hark_store_free(s);
}

/* A request during an outage: answered at once (no crash, no hang) with 503 and a JSON error
 * (or /health/ready's "ready": false). */
static void outage_request(const server *sv, const char *method, const char *path, const char *wav)
{
    reply r = wav ? http_form(sv, path, NULL, NULL, wav) : http(sv, method, path, NULL, NULL, 0);
    ASSERT_MSG(r.status == 503, "%s %s while the database is down: %ld %s", method, path, r.status,
               r.body ? r.body : "");
    ASSERT_MSG(r.body && r.body[0] == '{' &&
                   (strstr(r.body, "\"error\"") || strstr(r.body, "\"ready\":false")),
               "%s %s: %s", method, path, r.body ? r.body : "");
    reply_free(&r);
}

TEST(pg_restart_while_jobs_run_nodes_reconnect_and_every_job_completes_once)
{
    const char *uri = harness_pg_uri();
    const char *elog = harness_path("engine.log");
    char model[700], extra[1000], *log;
    server api;
    hark_store *s = NULL;
    int64_t jobs[12];
    size_t n = 0, i, calls, twice, chunks;
    pid_t w[2];

    harness_timeout(240);
    if (!harness_pg_dir())
        SKIP("the server is not the harness's own (HARK_TEST_PG_DSN)");
    ASSERT_OK(hark_store_open(&s, uri));
    snprintf(model, sizeof(model), "delay=250,log=%s", elog);
    snprintf(extra, sizeof(extra), "--workers 0 --engine test --model '%s' --vad off", model);
    node_start(&api, uri, "api", extra);
    w[0] = pt_worker(uri, harness_path("w0.log"), "-e", "test", "--no-vad", "-m", model,
                     "--workers", "1", NULL);
    w[1] = pt_worker(uri, harness_path("w1.log"), "-e", "test", "--no-vad", "-m", model,
                     "--workers", "1", NULL);
    pt_wait_for_text(harness_path("w0.log"), "running jobs of", 20000);
    pt_wait_for_text(harness_path("w1.log"), "running jobs of", 20000);
    for (i = 0; i < 10; i++)
        jobs[n++] = upload(&api, tone_file(i, 26.0), NULL);
    /* once chunks are being transcribed: the database goes away under the running jobs */
    while (pt_count_lines(elog, 0) < 3)
        pt_sleep_ms(20);
    ASSERT_EQ(harness_pg_ctl("stop"), 0);
    outage_request(&api, "GET", "/health/ready", NULL);
    outage_request(&api, "GET", "/v1/jobs/1", NULL);
    outage_request(&api, "GET", "/v1/recordings", NULL);
    outage_request(&api, "POST", "/v1/recordings", tone_file(40, 6.0));
    pt_sleep_ms(1000);
    ASSERT(alive(api.pid) && alive(w[0]) && alive(w[1]));
    ASSERT_EQ(harness_pg_ctl("start"), 0);
    /* the nodes carry on: new uploads are taken, and idle workers are woken again */
    jobs[n++] = upload(&api, tone_file(10, 16.0), NULL);
    jobs[n++] = upload(&api, tone_file(11, 16.0), NULL);
    for (i = 0; i < n; i++) {
        const char *state = wait_job(&api, NULL, jobs[i], 150000);
        ASSERT_MSG(state && !strcmp(state, "done"), "job %lld: %s", (long long)jobs[i],
                   state ? state : "timeout");
    }
    /* no job lost or duplicated: the 12 accepted, each done once with all its chunks (the
     * upload refused during the outage left nothing behind) */
    ASSERT_EQ(jobs_in_store(s), n);
    chunks = chunks_of(s, jobs, n);
    ASSERT_EQ(engine_chunks(elog, &calls, &twice), chunks);
    /* a chunk transcribed while its result could not be written is transcribed again */
    printf("%zu chunks, %zu engine calls, %zu chunks transcribed twice\n", chunks, calls, twice);
    ASSERT(twice <= 6);
    log = server_log(&api);
    ASSERT_CONTAINS(log, "reachable again: reconnected");
    free(log);
    log = harness_read_file(harness_path("w0.log"), NULL);
    ASSERT_CONTAINS(log, "reconnected");
    free(log);
    ASSERT_EQ(pt_stop(w[0], SIGTERM), 0);
    ASSERT_EQ(pt_stop(w[1], SIGTERM), 0);
    ASSERT_EQ(server_stop(&api, SIGTERM, 20000), 0);
    hark_store_free(s);
}

TEST(pg_connections_killed_mid_transaction_are_replaced_and_jobs_complete)
{
    const char *uri = harness_pg_uri();
    const char *elog = harness_path("engine.log");
    char model[700], extra[1000], *log;
    server api;
    hark_store *s = NULL;
    int64_t jobs[10];
    size_t i, calls, twice, chunks, killed = 0, busy = 0;
    pid_t w[2];
    PGconn *admin;

    harness_timeout(240);
    ASSERT_OK(hark_store_open(&s, uri));
    admin = PQconnectdb(getenv("HARK_TEST_PG_DSN"));
    ASSERT(PQstatus(admin) == CONNECTION_OK);
    snprintf(model, sizeof(model), "delay=100,log=%s", elog);
    snprintf(extra, sizeof(extra), "--workers 0 --engine test --model '%s' --vad off", model);
    node_start(&api, uri, "api", extra);
    w[0] = pt_worker(uri, harness_path("w0.log"), "-e", "test", "--no-vad", "-m", model,
                     "--workers", "2", NULL);
    w[1] = pt_worker(uri, harness_path("w1.log"), "-e", "test", "--no-vad", "-m", model,
                     "--workers", "2", NULL);
    for (i = 0; i < 10; i++)
        jobs[i] = upload(&api, tone_file(i, 26.0), NULL);
    /* kill every connection of the hark processes (not ours, not the test's store handle's
     * work) again and again while the jobs run: some die inside a transaction */
    for (int round = 0; round < 8; round++) {
        PGresult *r;
        reply q;
        pt_sleep_ms(250);
        r = PQexec(admin, "SELECT count(pg_terminate_backend(pid)), "
                          "count(*) FILTER (WHERE state <> 'idle') FROM pg_stat_activity "
                          "WHERE application_name = 'hark' AND pid <> pg_backend_pid()");
        ASSERT(PQresultStatus(r) == PGRES_TUPLES_OK);
        killed += strtoul(PQgetvalue(r, 0, 0), NULL, 10);
        busy += strtoul(PQgetvalue(r, 0, 1), NULL, 10);
        PQclear(r);
        /* the API node answers: a read reconnects at once */
        q = http(&api, "GET", "/v1/jobs/1", NULL, NULL, 0);
        ASSERT_MSG(q.status == 200 || (q.status >= 500 && q.body && q.body[0] == '{'),
                   "GET /v1/jobs/1 after the connections were killed: %ld %s", q.status,
                   q.body ? q.body : "");
        reply_free(&q);
    }
    ASSERT(killed > 0);
    for (i = 0; i < 10; i++) {
        const char *state = wait_job(&api, NULL, jobs[i], 150000);
        ASSERT_MSG(state && !strcmp(state, "done"), "job %lld: %s", (long long)jobs[i],
                   state ? state : "timeout");
    }
    ASSERT_EQ(jobs_in_store(s), 10);
    chunks = chunks_of(s, jobs, 10);
    ASSERT_EQ(engine_chunks(elog, &calls, &twice), chunks);
    printf("%zu connections killed (%zu busy: in a statement or a transaction); %zu chunks, %zu "
           "engine calls, %zu transcribed twice\n",
           killed, busy, chunks, calls, twice);
    ASSERT(alive(api.pid) && alive(w[0]) && alive(w[1]));
    log = harness_read_file(harness_path("w0.log"), NULL);
    ASSERT_CONTAINS(log, "reconnected");
    free(log);
    PQfinish(admin);
    ASSERT_EQ(pt_stop(w[0], SIGTERM), 0);
    ASSERT_EQ(pt_stop(w[1], SIGTERM), 0);
    ASSERT_EQ(server_stop(&api, SIGTERM, 20000), 0);
    hark_store_free(s);
}

TEST(pg_serve_and_worker_refuse_bad_uris_and_old_schemas_with_exit_codes)
{
    const char *uri = harness_pg_uri();
    char *out;
    int st;

    /* a malformed URI: usage error (2), the reason named */
    out = harness_sh_output(&st,
                            "timeout 30 '%s' serve --listen 127.0.0.1:0 --workers 0 --db "
                            "'postgresql://hark@/x?bogus_option=1' 2>&1",
                            harness_hark_bin());
    ASSERT_EQ(st, 2);
    ASSERT_CONTAINS(out, "bad connection URI");
    free(out);
    out = harness_sh_output(
        &st, "timeout 30 '%s' worker -e test --db 'postgresql://hark@/x?bogus_option=1' 2>&1",
        harness_hark_bin());
    ASSERT_EQ(st, 2);
    ASSERT_CONTAINS(out, "bad connection URI");
    free(out);
    /* nobody listens there: a database error (7) */
    out = harness_sh_output(&st,
                            "timeout 30 '%s' serve --listen 127.0.0.1:0 --workers 0 --db "
                            "'postgresql://nobody@127.0.0.1:1/x?connect_timeout=2' 2>&1",
                            harness_hark_bin());
    ASSERT_EQ(st, 7);
    ASSERT_CONTAINS(out, "cannot connect to the database server");
    free(out);
    /* PostgreSQL without --data-dir: where would the nodes share audio? */
    out = harness_sh_output(&st,
                            "timeout 30 '%s' serve --listen 127.0.0.1:0 --workers 0 --db '%s' 2>&1",
                            harness_hark_bin(), uri);
    ASSERT_EQ(st, 2);
    ASSERT_CONTAINS(out, "--data-dir");
    free(out);
    /* a store of an older schema: refused by both, not migrated behind the operator's back */
    uri = harness_pg_uri_named("old_schema");
    ASSERT_OK(hark__pg_migrate_to(uri, 1));
    out =
        harness_sh_output(&st,
                          "timeout 30 '%s' serve --listen 127.0.0.1:0 --workers 0 --data-dir '%s' "
                          "--db '%s' 2>&1",
                          harness_hark_bin(), harness_path("data"), uri);
    ASSERT_EQ(st, 7);
    ASSERT_CONTAINS(out, "hark db migrate");
    free(out);
    out = harness_sh_output(&st, "timeout 30 '%s' worker -e test --db '%s' 2>&1",
                            harness_hark_bin(), uri);
    ASSERT_EQ(st, 7);
    ASSERT_CONTAINS(out, "hark db migrate");
    free(out);
    out = harness_sh_output(&st, "'%s' db migrate --db '%s' 2>&1", harness_hark_bin(), uri);
    ASSERT_EQ(st, 0);
    free(out);
}

/* Run tests/integration/server/live_client.py with `args`; the JSON of its last line. */
static json_t *live_client(const char *args)
{
    int st;
    char *out =
        harness_sh_output(&st, "/usr/bin/python3 '%s/tests/integration/server/live_client.py' %s",
                          HARK_SOURCE_DIR, args);
    char *last;
    json_t *o;
    size_t n = strlen(out);
    ASSERT_MSG(st == 0, "live_client.py %s failed (%d): %s", args, st, out);
    while (n && out[n - 1] == '\n')
        out[--n] = '\0';
    last = strrchr(out, '\n');
    o = json_loads(last ? last + 1 : out, 0, NULL);
    ASSERT_MSG(o != NULL, "not JSON: %s", out);
    free(out);
    return o;
}

TEST(pg_a_live_session_of_a_killed_node_resumes_on_another_node)
{
    const char *uri = harness_pg_uri();
    const char *wav = harness_shared_file("corpus/en/1089-134686-0000.wav");
    const char *state = harness_path("state.json");
    char args[2048];
    server a, b;
    json_t *ref, *o;
    int st;
    char *py = harness_sh_output(&st, "/usr/bin/python3 -c 'import websockets' 2>&1");

    free(py);
    if (st != 0)
        SKIP("python3-websockets is not installed");
    harness_timeout(300);
    node_start(&a, uri, "a", "--workers 1 --engine test --model delay=200");
    node_start(&b, uri, "b", "--workers 1 --engine test");
    /* the reference: a whole session on node b */
    snprintf(args, sizeof(args), "ws://127.0.0.1:%u/v1/live '%s'", b.port, wav);
    ref = live_client(args);
    /* a session on node a, which dies after some acknowledged audio */
    snprintf(args, sizeof(args), "ws://127.0.0.1:%u/v1/live '%s' --stop-after 60 --state '%s'",
             a.port, wav, state);
    o = live_client(args);
    ASSERT(json_integer_value(json_object_get(o, "ack")) > 0);
    json_decref(o);
    ASSERT_EQ(server_stop(&a, SIGKILL, 10000), 128 + SIGKILL);
    /* the client resumes it on node b: rebuilt from the store and the shared data directory */
    snprintf(args, sizeof(args), "ws://127.0.0.1:%u/v1/live '%s' --resume-state '%s'", b.port, wav,
             state);
    o = live_client(args);
    ASSERT_STREQ(json_string_value(json_object_get(o, "text")),
                 json_string_value(json_object_get(ref, "text")));
    ASSERT_EQ(json_integer_value(json_object_get(o, "dups")), 0);
    ASSERT(json_is_true(json_object_get(o, "ended")));
    json_decref(o);
    json_decref(ref);
    ASSERT_EQ(server_stop(&b, SIGTERM, 20000), 0);
}
