/*
 * sched.c: the process-wide pool of ASR workers (hark/scheduler.h).
 *
 * DESIGN
 * Clients (pipelines) own a FIFO of tasks (hark__sched_queue). A queue with
 * pending tasks sits in the ring of its priority class: a circular doubly
 * linked list whose head, ring[p], is the queue served next. A worker takes
 * the first task of ring[p] for the most urgent p with work, then advances
 * ring[p] to the next queue (round-robin between clients of one class) or
 * unlinks the queue when it has no task left. Taking a task is O(1); so is
 * pushing one.
 *
 * One mutex guards the rings, every queue's links and counters, and the
 * statistics; one condition variable wakes workers (a task was pushed, or
 * the scheduler stops). Workers run tasks without the lock. Idle workers
 * wait on the condition variable without a timeout: no CPU while idle.
 *
 * INVARIANTS
 * - q->in_ring <=> q->n > 0 (a queue is in its ring exactly when it has work).
 * - queued[p] is the sum of n over the queues of class p.
 * - A task taken by a worker is no longer in any queue; drain cannot see it.
 */
#include <pthread.h>
#include <string.h>

#include "sched.h"
#include "../util/util.h"

#define MAX_WORKERS 256

static const double bucket_bounds[HARK_SCHEDULER_BUCKETS] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000, 1e300,
};

typedef struct worker {
    hark_scheduler *s;
    unsigned index;
    pthread_t thread;
} worker;

struct hark_scheduler {
    pthread_mutex_t mu;
    pthread_cond_t cv;                            /* workers: a task was pushed, or stop */
    hark__sched_queue *ring[HARK_PRIORITY_COUNT]; /* next queue to serve per class, NULL = none */
    uint64_t queued[HARK_PRIORITY_COUNT];         /* pending tasks per class */
    uint64_t queues;                              /* queues in rings */
    unsigned n_workers, started, busy;
    int stop;
    worker *workers;
    /* statistics */
    uint64_t done;
    double busy_ms, hist_sum_ms;
    uint64_t hist[HARK_SCHEDULER_BUCKETS];
};

const double *hark_scheduler_bucket_bounds(void)
{
    return bucket_bounds;
}

void hark__sched_queue_init(hark__sched_queue *q, hark_priority priority)
{
    memset(q, 0, sizeof(*q));
    q->priority = priority < HARK_PRIORITY_COUNT ? priority : HARK_PRIORITY_BULK;
}

/* ---- rings (mu held) ------------------------------------------------------------------------- */

static void ring_add(hark_scheduler *s, hark__sched_queue *q)
{
    hark__sched_queue **head = &s->ring[q->priority];
    if (!*head) {
        q->next = q->prev = q;
        *head = q;
    } else { /* at the tail: served after every queue already waiting */
        q->next = *head;
        q->prev = (*head)->prev;
        (*head)->prev->next = q;
        (*head)->prev = q;
    }
    q->in_ring = 1;
    s->queues++;
}

static void ring_remove(hark_scheduler *s, hark__sched_queue *q)
{
    hark__sched_queue **head = &s->ring[q->priority];
    if (q->next == q) {
        *head = NULL;
    } else {
        q->prev->next = q->next;
        q->next->prev = q->prev;
        if (*head == q)
            *head = q->next;
    }
    q->next = q->prev = NULL;
    q->in_ring = 0;
    s->queues--;
}

/* The next task to run, or NULL. */
static hark__task *take_locked(hark_scheduler *s)
{
    int p;
    for (p = 0; p < HARK_PRIORITY_COUNT; p++) {
        hark__sched_queue *q = s->ring[p];
        hark__task *t;
        if (!q)
            continue;
        t = q->head;
        q->head = t->next;
        if (!q->head)
            q->tail = NULL;
        t->next = NULL;
        q->n--;
        s->queued[p]--;
        if (q->n == 0)
            ring_remove(s, q);
        else
            s->ring[p] = q->next; /* round-robin: the next client of this class goes next */
        return t;
    }
    return NULL;
}

/* ---- workers -----------------------------------------------------------------------------------
 */

static void record(hark_scheduler *s, double ms)
{
    unsigned b = 0;
    while (b + 1 < HARK_SCHEDULER_BUCKETS && ms > bucket_bounds[b])
        b++;
    s->hist[b]++;
    s->hist_sum_ms += ms;
    s->busy_ms += ms;
    s->done++;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    hark_scheduler *s = w->s;

    pthread_mutex_lock(&s->mu);
    for (;;) {
        hark__task *t = NULL;
        hark__worker_info info;
        double t0;
        while (!s->stop && !(t = take_locked(s)))
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->stop)
            break;
        s->busy++;
        info.index = w->index;
        info.busy = s->busy;
        info.workers = s->n_workers;
        pthread_mutex_unlock(&s->mu);
        t0 = hark__now_ms();
        t->run(t, &info); /* may free t */
        t0 = hark__now_ms() - t0;
        pthread_mutex_lock(&s->mu);
        s->busy--;
        record(s, t0);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- public ------------------------------------------------------------------------------------
 */

int hark_scheduler_new(hark_scheduler **out, const hark_scheduler_options *opts)
{
    hark_scheduler *s = NULL;
    unsigned n, i;
    int rc = 0;

    HARK_ASSERT_ARG(out);
    *out = NULL;
    if (opts && opts->version != HARK_SCHEDULER_OPTIONS_VERSION)
        return hark_error_set(HARK_EVERSION, "hark_scheduler_options version %u not supported",
                              opts->version);
    n = opts && opts->n_workers ? opts->n_workers : hark__cpu_count();
    if (n > MAX_WORKERS)
        return hark_error_set(HARK_EINVAL, "at most %d scheduler workers (asked for %u)",
                              MAX_WORKERS, n);
    if (!(s = hark__calloc(1, sizeof(*s))) || !(s->workers = hark__calloc(n, sizeof(worker)))) {
        hark__free(s);
        return hark_error_set(HARK_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->n_workers = n;
    for (i = 0; i < n; i++) {
        s->workers[i].s = s;
        s->workers[i].index = i;
        if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0) {
            rc = hark_error_set(HARK_ENOMEM, "cannot start scheduler worker %u of %u", i + 1, n);
            break;
        }
        s->started++;
    }
    if (rc < 0) {
        hark_scheduler_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void hark_scheduler_free(hark_scheduler *s)
{
    unsigned i;
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (i = 0; i < s->started; i++)
        pthread_join(s->workers[i].thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    hark__free(s->workers);
    hark__free(s);
}

unsigned hark_scheduler_workers(const hark_scheduler *s)
{
    return s ? s->n_workers : 0;
}

void hark_scheduler_stats_get(hark_scheduler *s, hark_scheduler_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    out->workers = s->n_workers;
    out->busy = s->busy;
    memcpy(out->queued, s->queued, sizeof(out->queued));
    out->pipelines = s->queues;
    out->done = s->done;
    out->busy_ms = s->busy_ms;
    memcpy(out->hist, s->hist, sizeof(out->hist));
    out->hist_sum_ms = s->hist_sum_ms;
    pthread_mutex_unlock(&s->mu);
}

void hark__sched_push(hark_scheduler *s, hark__sched_queue *q, hark__task *t)
{
    pthread_mutex_lock(&s->mu);
    t->next = NULL;
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
    q->n++;
    s->queued[q->priority]++;
    if (!q->in_ring)
        ring_add(s, q);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

size_t hark__sched_drain(hark_scheduler *s, hark__sched_queue *q,
                         void (*drop)(hark__task *t, void *payload), void *payload)
{
    hark__task *list, *t;
    size_t n;
    pthread_mutex_lock(&s->mu);
    list = q->head;
    n = q->n;
    s->queued[q->priority] -= n;
    q->head = q->tail = NULL;
    q->n = 0;
    if (q->in_ring)
        ring_remove(s, q);
    pthread_mutex_unlock(&s->mu);
    while ((t = list)) {
        list = t->next;
        t->next = NULL;
        drop(t, payload);
    }
    return n;
}
