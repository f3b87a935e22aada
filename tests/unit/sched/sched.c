/*
 * Scheduler tests: class order, round-robin between clients of a class,
 * drain, statistics, no CPU while idle; and pipelines sharing one scheduler:
 * a short run is not starved by a long one, engine states stay bounded by
 * the workers whatever the number of concurrent runs, the push API.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>

#include "harness.h"
#include "asr/asr.h"
#include "pipeline/pipeline_int.h"
#include "sched/sched.h"
#include "util/util.h"

#define SEC HARK_SAMPLE_RATE

/* ---- tasks that record the order they ran in -------------------------------------------- */

typedef struct order_log {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int gate_open;
    char seen[64][8];
    int n;
} order_log;

typedef struct rec_task {
    hark__task t;
    order_log *log;
    char name[8];
    int is_gate;
} rec_task;

static void rec_run(hark__task *task, const hark__worker_info *w)
{
    rec_task *r = (rec_task *)task;
    (void)w;
    pthread_mutex_lock(&r->log->mu);
    if (r->is_gate) {
        while (!r->log->gate_open)
            pthread_cond_wait(&r->log->cv, &r->log->mu);
    } else {
        snprintf(r->log->seen[r->log->n++], 8, "%s", r->name);
    }
    pthread_cond_broadcast(&r->log->cv);
    pthread_mutex_unlock(&r->log->mu);
}

static rec_task *mk(order_log *log, const char *name)
{
    rec_task *r = calloc(1, sizeof(*r));
    r->t.run = rec_run;
    r->log = log;
    snprintf(r->name, sizeof(r->name), "%s", name);
    return r;
}

static void log_init(order_log *l)
{
    memset(l, 0, sizeof(*l));
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
}

static void wait_for(order_log *l, int n)
{
    pthread_mutex_lock(&l->mu);
    while (l->n < n)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

static void open_gate(order_log *l)
{
    pthread_mutex_lock(&l->mu);
    l->gate_open = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

/* One worker, held by a gate task while the others are queued. */
static hark_scheduler *one_blocked_worker(order_log *log, hark__sched_queue *gq, rec_task **gate)
{
    hark_scheduler *s = NULL;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    hark_scheduler_stats st;
    so.n_workers = 1;
    ASSERT_OK(hark_scheduler_new(&s, &so));
    hark__sched_queue_init(gq, HARK_PRIORITY_LIVE);
    *gate = mk(log, "gate");
    (*gate)->is_gate = 1;
    hark__sched_push(s, gq, &(*gate)->t);
    do { /* until the worker holds the gate */
        hark_scheduler_stats_get(s, &st);
    } while (st.busy == 0);
    return s;
}

TEST(classes_run_most_urgent_first)
{
    order_log log;
    hark__sched_queue gq, live, inter, bulk, maint;
    rec_task *gate, *t[5];
    hark_scheduler *s;
    int i;
    log_init(&log);
    s = one_blocked_worker(&log, &gq, &gate);
    hark__sched_queue_init(&live, HARK_PRIORITY_LIVE);
    hark__sched_queue_init(&inter, HARK_PRIORITY_INTERACTIVE);
    hark__sched_queue_init(&bulk, HARK_PRIORITY_BULK);
    hark__sched_queue_init(&maint, HARK_PRIORITY_MAINTENANCE);
    hark__sched_push(s, &maint, &(t[0] = mk(&log, "M"))->t);
    hark__sched_push(s, &bulk, &(t[1] = mk(&log, "B1"))->t);
    hark__sched_push(s, &bulk, &(t[2] = mk(&log, "B2"))->t);
    hark__sched_push(s, &inter, &(t[3] = mk(&log, "I"))->t);
    hark__sched_push(s, &live, &(t[4] = mk(&log, "L"))->t);
    open_gate(&log);
    wait_for(&log, 5);
    ASSERT_STREQ(log.seen[0], "L");
    ASSERT_STREQ(log.seen[1], "I");
    ASSERT_STREQ(log.seen[2], "B1");
    ASSERT_STREQ(log.seen[3], "B2");
    ASSERT_STREQ(log.seen[4], "M");
    hark_scheduler_free(s);
    free(gate);
    for (i = 0; i < 5; i++)
        free(t[i]);
}

TEST(clients_of_one_class_take_turns)
{
    order_log log;
    hark__sched_queue gq, x, y;
    rec_task *gate, *t[7];
    const char *want[] = { "x1", "y1", "x2", "y2", "x3", "x4", "x5" };
    hark_scheduler *s;
    int i;
    log_init(&log);
    s = one_blocked_worker(&log, &gq, &gate);
    hark__sched_queue_init(&x, HARK_PRIORITY_BULK);
    hark__sched_queue_init(&y, HARK_PRIORITY_BULK);
    for (i = 0; i < 5; i++) {
        char name[8];
        snprintf(name, sizeof(name), "x%d", i + 1);
        hark__sched_push(s, &x, &(t[i] = mk(&log, name))->t);
    }
    hark__sched_push(s, &y, &(t[5] = mk(&log, "y1"))->t);
    hark__sched_push(s, &y, &(t[6] = mk(&log, "y2"))->t);
    open_gate(&log);
    wait_for(&log, 7);
    for (i = 0; i < 7; i++)
        ASSERT_STREQ(log.seen[i], want[i]);
    hark_scheduler_free(s);
    free(gate);
    for (i = 0; i < 7; i++)
        free(t[i]);
}

static void count_drop(hark__task *t, void *payload)
{
    (*(int *)payload)++;
    free(t);
}

TEST(drain_removes_pending_tasks_only_of_its_queue)
{
    order_log log;
    hark__sched_queue gq, x, y;
    rec_task *gate, *ykeep;
    hark_scheduler *s;
    hark_scheduler_stats st;
    int dropped = 0, i;
    log_init(&log);
    s = one_blocked_worker(&log, &gq, &gate);
    hark__sched_queue_init(&x, HARK_PRIORITY_BULK);
    hark__sched_queue_init(&y, HARK_PRIORITY_BULK);
    for (i = 0; i < 3; i++)
        hark__sched_push(s, &x, &mk(&log, "x")->t);
    hark__sched_push(s, &y, &(ykeep = mk(&log, "y"))->t);
    hark_scheduler_stats_get(s, &st);
    ASSERT_EQ(st.queued[HARK_PRIORITY_BULK], 4);
    ASSERT_EQ(st.pipelines, 2);
    ASSERT_EQ(hark__sched_drain(s, &x, count_drop, &dropped), 3);
    ASSERT_EQ(dropped, 3);
    ASSERT_EQ(hark__sched_drain(s, &x, count_drop, &dropped), 0);
    hark_scheduler_stats_get(s, &st);
    ASSERT_EQ(st.queued[HARK_PRIORITY_BULK], 1);
    ASSERT_EQ(st.pipelines, 1);
    open_gate(&log);
    wait_for(&log, 1);
    ASSERT_STREQ(log.seen[0], "y");
    hark_scheduler_free(s);
    hark_scheduler_stats_get(NULL, &st);
    ASSERT_EQ(st.workers, 0);
    free(gate);
    free(ykeep);
}

TEST(statistics_count_every_task_in_a_histogram_bucket)
{
    order_log log;
    hark__sched_queue q;
    hark_scheduler *s = NULL;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    hark_scheduler_stats st;
    rec_task *t[10];
    uint64_t sum = 0;
    int i;
    log_init(&log);
    so.n_workers = 3;
    ASSERT_OK(hark_scheduler_new(&s, &so));
    ASSERT_EQ(hark_scheduler_workers(s), 3);
    hark__sched_queue_init(&q, HARK_PRIORITY_BULK);
    for (i = 0; i < 10; i++)
        hark__sched_push(s, &q, &(t[i] = mk(&log, "t"))->t);
    wait_for(&log, 10);
    do {
        hark_scheduler_stats_get(s, &st);
    } while (st.done < 10);
    for (i = 0; i < HARK_SCHEDULER_BUCKETS; i++)
        sum += st.hist[i];
    ASSERT_EQ(sum, 10);
    ASSERT_EQ(st.hist[0], 10); /* all well under 50 ms */
    ASSERT(hark_scheduler_bucket_bounds()[0] == 50);
    hark_scheduler_free(s);
    for (i = 0; i < 10; i++)
        free(t[i]);
}

TEST(an_idle_scheduler_uses_no_cpu)
{
    hark_scheduler *s = NULL;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    struct rusage a, b;
    double cpu_ms;
    so.n_workers = 8;
    ASSERT_OK(hark_scheduler_new(&s, &so));
    hark__sleep_ms(50, NULL, NULL); /* let the threads reach their wait */
    getrusage(RUSAGE_SELF, &a);
    {
        struct timespec ts = { 0, 500 * 1000000L };
        nanosleep(&ts, NULL);
    }
    getrusage(RUSAGE_SELF, &b);
    cpu_ms =
        (double)(b.ru_utime.tv_sec - a.ru_utime.tv_sec + b.ru_stime.tv_sec - a.ru_stime.tv_sec) *
            1000 +
        (double)(b.ru_utime.tv_usec - a.ru_utime.tv_usec + b.ru_stime.tv_usec -
                 a.ru_stime.tv_usec) /
            1000;
    ASSERT_LT(cpu_ms, 5);
    hark_scheduler_free(s);
}

TEST(bad_options_are_refused)
{
    hark_scheduler *s = NULL;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    so.n_workers = 100000;
    ASSERT_ERR(hark_scheduler_new(&s, &so), HARK_EINVAL);
    so.n_workers = 1;
    so.version = 99;
    ASSERT_ERR(hark_scheduler_new(&s, &so), HARK_EVERSION);
    ASSERT(s == NULL);
}

/* ---- pipelines on one scheduler ------------------------------------------------------------ */

static float *tones(int n_sec)
{
    float *pcm = malloc(sizeof(float) * (size_t)n_sec * SEC);
    int k, i;
    for (k = 0; k < n_sec; k++)
        for (i = 0; i < SEC; i++)
            pcm[(size_t)k * SEC + i] = (float)(0.2 * sin(2 * M_PI * (200 + 100 * k) * i / SEC));
    return pcm;
}

static void opts_1s(hark_pipeline_options *o, hark_scheduler *s)
{
    hark_pipeline_options_default(o);
    o->scheduler = s;
    o->chunk.no_vad = 1;
    o->chunk.min = SEC;
    o->chunk.max = SEC;
}

typedef struct run_arg {
    hark_engine *e;
    hark_scheduler *s;
    float *pcm;
    int n_sec;
    double done_ms; /* completion time since t0 */
    double t0;
    int rc;
    size_t segments;
} run_arg;

static void *run_thread(void *arg)
{
    run_arg *r = arg;
    hark_pipeline_options o;
    hark_transcript *t = NULL;
    opts_1s(&o, r->s);
    r->rc = hark_transcribe_pcm(&t, r->e, r->pcm, (size_t)r->n_sec * SEC, &o);
    r->done_ms = hark__now_ms() - r->t0;
    r->segments = hark_transcript_count(t);
    hark_transcript_free(t);
    return NULL;
}

TEST(a_short_run_behind_a_long_one_waits_for_one_chunk_not_all)
{
    /* 2 workers, chunks of 60 ms: the long run alone takes 30 x 60 / 2 = 900 ms */
    hark_engine *e = NULL;
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    hark_scheduler *s = NULL;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    float *pcm = tones(30);
    run_arg longr, shortr;
    pthread_t a, b;
    double t0;
    eo.model = "delay=60";
    ASSERT_OK(hark_engine_open(&e, "test", &eo));
    so.n_workers = 2;
    ASSERT_OK(hark_scheduler_new(&s, &so));
    ASSERT_OK(hark_engine_preload(e));
    t0 = hark__now_ms();
    longr = (run_arg){ e, s, pcm, 30, 0, t0, 0, 0 };
    shortr = (run_arg){ e, s, pcm, 1, 0, 0, 0, 0 };
    pthread_create(&a, NULL, run_thread, &longr);
    hark__sleep_ms(100, NULL, NULL); /* the long run is well under way */
    shortr.t0 = hark__now_ms();
    pthread_create(&b, NULL, run_thread, &shortr);
    pthread_join(b, NULL);
    pthread_join(a, NULL);
    ASSERT_OK(longr.rc);
    ASSERT_OK(shortr.rc);
    ASSERT_EQ(longr.segments, 30);
    ASSERT_EQ(shortr.segments, 1);
    /* one chunk of the long run at most ahead of it, plus its own 60 ms (with slack for
     * a loaded machine); without turns it would wait ~800 ms */
    ASSERT_LT(shortr.done_ms, 400);
    ASSERT_LT(shortr.t0 - t0 + shortr.done_ms, longr.done_ms - 200); /* well before the long one */
    hark_scheduler_free(s);
    hark_engine_free(e);
    free(pcm);
}

TEST(concurrent_runs_share_worker_states)
{
    /* 6 runs at once on 2 workers: at most 2 engine states are ever made */
    hark_engine *e = NULL;
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    hark_scheduler *s = NULL;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    float *pcm = tones(5);
    run_arg r[6];
    pthread_t th[6];
    int i;
    eo.model = "delay=10";
    ASSERT_OK(hark_engine_open(&e, "test", &eo));
    so.n_workers = 2;
    ASSERT_OK(hark_scheduler_new(&s, &so));
    for (i = 0; i < 6; i++) {
        r[i] = (run_arg){ e, s, pcm, 5, 0, hark__now_ms(), 0, 0 };
        pthread_create(&th[i], NULL, run_thread, &r[i]);
    }
    for (i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ASSERT_OK(r[i].rc);
        ASSERT_EQ(r[i].segments, 5);
    }
    ASSERT_LE(hark__engine_states_made(e), 2);
    ASSERT_LE(1, hark__engine_states_made(e));
    hark_scheduler_free(s);
    hark_engine_free(e);
    free(pcm);
}

typedef struct seg_log {
    size_t calls, segments;
    int in_order;
    uint32_t next_chunk;
} seg_log;

static int on_segments(const hark_transcript *t, size_t first, size_t count, void *payload)
{
    seg_log *l = payload;
    size_t i;
    for (i = first; i < first + count; i++) {
        if (hark_transcript_segment(t, i)->chunk != l->next_chunk)
            l->in_order = 0;
        l->next_chunk++;
    }
    l->calls++;
    l->segments += count;
    return 0;
}

/* A test engine with faults `model`, a scheduler of `workers` and pipeline options cutting 1 s
 * chunks on it: what the push-API tests share. */
typedef struct push_world {
    hark_engine *e;
    hark_scheduler *s;
    hark_pipeline_options o;
} push_world;

static void world_open(push_world *w, const char *model, unsigned workers)
{
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    hark_scheduler_options so = HARK_SCHEDULER_OPTIONS_INIT;
    memset(w, 0, sizeof(*w));
    eo.model = model;
    ASSERT_OK(hark_engine_open(&w->e, "test", &eo));
    so.n_workers = workers;
    ASSERT_OK(hark_scheduler_new(&w->s, &so));
    opts_1s(&w->o, w->s);
}

static void world_close(push_world *w)
{
    hark_scheduler_free(w->s);
    hark_engine_free(w->e);
}

TEST(push_api_gives_the_same_transcript_in_odd_blocks)
{
    push_world w;
    hark_pipeline *p = NULL;
    hark_transcript *ref = NULL, *t = NULL;
    hark_buf a = HARK_BUF_INIT, b = HARK_BUF_INIT;
    float *pcm = tones(7);
    seg_log log = { 0, 0, 1, 0 };
    size_t pos = 0, step = 1;
    world_open(&w, "delay=3:40", 3);
    ASSERT_OK(hark_transcribe_pcm(&ref, w.e, pcm, 7 * SEC, &w.o));
    w.o.segments = on_segments;
    w.o.payload = &log;
    ASSERT_OK(hark_pipeline_begin(&p, w.e, &w.o));
    while (pos < (size_t)7 * SEC) { /* blocks of 1, 3, 7, 15... samples */
        size_t n = HARK_MIN(step, (size_t)7 * SEC - pos);
        ASSERT_OK(hark_pipeline_feed(p, pcm + pos, n));
        pos += n;
        step = step * 2 + 1;
    }
    ASSERT_OK(hark_pipeline_finish(p, &t));
    {
        hark_transcript *again = NULL;
        ASSERT_ERR(hark_pipeline_finish(p, &again), HARK_EINVAL);
        ASSERT(again == NULL);
    }
    ASSERT_ERR(hark_pipeline_feed(p, pcm, 10), HARK_EINVAL);
    hark_pipeline_free(p);
    ASSERT_OK(hark_transcript_write(ref, HARK_FORMAT_SRT, &a));
    ASSERT_OK(hark_transcript_write(t, HARK_FORMAT_SRT, &b));
    ASSERT_STREQ(a.ptr, b.ptr);
    ASSERT_EQ(log.segments, 7);
    ASSERT(log.in_order);
    hark_buf_dispose(&a);
    hark_buf_dispose(&b);
    hark_transcript_free(ref);
    hark_transcript_free(t);
    world_close(&w);
    free(pcm);
}

typedef struct total_log {
    pthread_mutex_t mu;
    int reports;
    hark_progress last;
    int final_early; /* a report said "1 of 2, and that is all" */
} total_log;

static void on_total(const hark_progress *pr, void *payload)
{
    total_log *l = payload;
    pthread_mutex_lock(&l->mu);
    l->reports++;
    l->last = *pr;
    if (pr->decoding_done && pr->chunks_total == 2 && pr->chunks_done == 1)
        l->final_early = 1;
    pthread_mutex_unlock(&l->mu);
}

TEST(progress_says_the_total_is_final_before_the_last_chunk_is_done)
{
    /* Chunk 0 is done while the input is still open; at finish the total becomes final, and a
     * progress bar must learn it then, not only when the slow chunk 1 is done (a web page showed
     * "chunk 1 of 1" and then "2 of 2"). */
    push_world w;
    hark_pipeline *p = NULL;
    hark_transcript *t = NULL;
    float *pcm = tones(2);
    total_log log;
    double t0;
    int reports;
    memset(&log, 0, sizeof(log));
    pthread_mutex_init(&log.mu, NULL);
    world_open(&w, "delay=1:1000", 2);
    w.o.progress = on_total;
    w.o.payload = &log;
    ASSERT_OK(hark_pipeline_begin(&p, w.e, &w.o));
    ASSERT_OK(hark_pipeline_feed(p, pcm, 2 * SEC));
    t0 = hark__now_ms();
    do { /* chunk 0 is merged and reported */
        struct timespec ts = { 0, 2000000L };
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&log.mu);
        reports = log.reports;
        pthread_mutex_unlock(&log.mu);
    } while (reports == 0 && hark__now_ms() - t0 < 5000);
    ASSERT_EQ(reports, 1);
    ASSERT_EQ(log.last.chunks_done, 1);
    ASSERT(!log.last.decoding_done);
    ASSERT(!log.final_early);
    ASSERT_OK(hark_pipeline_finish(p, &t));
    ASSERT(log.final_early);
    ASSERT_EQ(log.last.chunks_done, 2);
    ASSERT(log.last.decoding_done);
    ASSERT_EQ(log.reports, 3);
    hark_pipeline_free(p);
    hark_transcript_free(t);
    world_close(&w);
    pthread_mutex_destroy(&log.mu);
    free(pcm);
}

TEST(a_cancelled_push_run_stops_and_a_freed_one_waits_for_its_chunks)
{
    push_world w;
    hark_pipeline *p = NULL;
    hark_transcript *t = NULL;
    hark_scheduler_stats st;
    float *pcm = tones(20);
    double t0;
    world_open(&w, "delay=50", 2);
    w.o.queue_depth = 100; /* everything queued at once */
    ASSERT_OK(hark_pipeline_begin(&p, w.e, &w.o));
    ASSERT_OK(hark_pipeline_feed(p, pcm, 20 * SEC));
    t0 = hark__now_ms();
    hark_pipeline_cancel(p);
    ASSERT_ERR(hark_pipeline_feed(p, pcm, SEC), HARK_ECANCELED);
    ASSERT_ERR(hark_pipeline_finish(p, &t), HARK_ECANCELED);
    ASSERT_LT(hark__now_ms() - t0, 300); /* queued chunks dropped, not run */
    hark_pipeline_free(p);
    hark_transcript_free(t);
    hark_scheduler_stats_get(w.s, &st);
    ASSERT_EQ(st.queued[HARK_PRIORITY_BULK], 0);
    /* abandoned without finish: free cancels and waits */
    p = NULL;
    ASSERT_OK(hark_pipeline_begin(&p, w.e, &w.o));
    ASSERT_OK(hark_pipeline_feed(p, pcm, 20 * SEC));
    hark_pipeline_free(p);
    world_close(&w);
    free(pcm);
}

static int count_store(void *payload, uint32_t index, int64_t start, const float *pcm, size_t n,
                       const hark_transcript *result)
{
    (void)index, (void)start, (void)pcm, (void)n, (void)result;
    atomic_fetch_add((_Atomic int *)payload, 1);
    return 0;
}

TEST(keep_going_runs_every_chunk_and_reports_the_first_failure)
{
    hark_engine *e = NULL;
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    hark_pipeline_options o;
    hark_pipeline_hooks h;
    hark_transcript *t = NULL;
    float *pcm = tones(6);
    _Atomic int stored = 0;
    eo.model = "fail=2:99";
    ASSERT_OK(hark_engine_open(&e, "test", &eo));
    opts_1s(&o, NULL);
    o.n_workers = 2;
    o.max_retries = 1;
    o.retry_base_ms = 1;
    o.keep_going = 1;
    memset(&h, 0, sizeof(h));
    h.store = count_store;
    h.payload = (void *)&stored;
    ASSERT_ERR(hark__pipeline_run(&t, e, NULL, pcm, 6 * SEC, &o, NULL, &h), HARK_EAGAIN);
    ASSERT_CONTAINS(hark_error_last(), "chunk 2");
    ASSERT_EQ(hark_transcript_count(t), 2); /* merged up to the gap */
    ASSERT_EQ(atomic_load(&stored), 5);     /* every other chunk was transcribed */
    hark_transcript_free(t);
    t = NULL;
    /* without keep_going the first failure stops the run */
    o.keep_going = 0;
    o.n_workers = 1;
    atomic_store(&stored, 0);
    ASSERT_ERR(hark__pipeline_run(&t, e, NULL, pcm, 6 * SEC, &o, NULL, &h), HARK_EAGAIN);
    ASSERT_LE(atomic_load(&stored), 3);
    hark_transcript_free(t);
    hark_engine_free(e);
    free(pcm);
}
