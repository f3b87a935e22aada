/*
 * pool.c: see pool.h.
 *
 * DESIGN: workers sleep on a condition variable between jobs. A job is
 * published by bumping `generation`; each worker (and the caller) then pulls
 * task indices from the atomic `next` until they run out, and the last one to
 * finish signals `done`. Between two jobs of a tight loop (one per matrix
 * product, thousands per second) workers spin briefly on `generation` before
 * sleeping, which keeps the hand-off cost at a few microseconds.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "pool.h"
#include "util.h"

#define SPIN_ROUNDS 20000

struct hark_pool {
    int n_threads;      /* including the caller */
    pthread_t *threads; /* n_threads - 1 workers */
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* workers wait here for a new generation */
    pthread_cond_t done_cv; /* caller waits here for `active` to reach 0 */
    _Atomic unsigned generation;
    _Atomic int next;   /* next task index */
    _Atomic int active; /* workers still inside the current job */
    int n_tasks;
    hark_pool_fn fn;
    void *payload;
    _Atomic int stop;
};

static void drain(hark_pool *p, int worker)
{
    for (;;) {
        int t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (t >= p->n_tasks)
            break;
        p->fn(p->payload, t, worker);
    }
}

typedef struct worker_arg {
    hark_pool *pool;
    int index;
} worker_arg;

static void *worker_main(void *arg)
{
    hark_pool *p = ((worker_arg *)arg)->pool;
    int index = ((worker_arg *)arg)->index;
    unsigned seen = 0;
    hark__free(arg);

    for (;;) {
        int spins = 0;
        unsigned g;
        while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
               spins < SPIN_ROUNDS)
            spins++;
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load(&p->generation)) == seen && !p->stop)
                pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (p->stop && g == seen)
            return NULL;
        seen = g;
        drain(p, index);
        if (atomic_fetch_sub_explicit(&p->active, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

int hark_pool_new(hark_pool **out, int n_threads)
{
    hark_pool *p;
    int i;

    *out = NULL;
    if (n_threads < 1)
        n_threads = 1;
    p = hark__calloc(1, sizeof(*p));
    if (!p)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    p->n_threads = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    if (n_threads > 1) {
        p->threads = hark__calloc((size_t)n_threads - 1, sizeof(pthread_t));
        if (!p->threads)
            goto oom;
        for (i = 0; i < n_threads - 1; i++) {
            worker_arg *a = hark__malloc(sizeof(*a));
            if (!a)
                goto oom;
            a->pool = p;
            a->index = i + 1;
            if (pthread_create(&p->threads[i], NULL, worker_main, a) != 0) {
                hark__free(a);
                hark_pool_free(p);
                return hark_error_set(HARK_ENOMEM, "cannot start compute thread");
            }
            p->n_threads++;
        }
    }
    *out = p;
    return 0;
oom:
    hark_pool_free(p);
    return hark_error_set(HARK_ENOMEM, "out of memory");
}

int hark_pool_threads(const hark_pool *pool)
{
    return pool ? pool->n_threads : 1;
}

void hark_pool_run(hark_pool *p, int n_tasks, hark_pool_fn fn, void *payload)
{
    int i;
    if (n_tasks <= 0)
        return;
    if (!p || p->n_threads == 1 || n_tasks == 1) {
        for (i = 0; i < n_tasks; i++)
            fn(payload, i, 0);
        return;
    }
    p->n_tasks = n_tasks;
    p->fn = fn;
    p->payload = payload;
    atomic_store(&p->next, 0);
    atomic_store(&p->active, p->n_threads - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);

    drain(p, 0);

    {
        int spins = 0;
        while (atomic_load_explicit(&p->active, memory_order_acquire) > 0 && spins < SPIN_ROUNDS)
            spins++;
    }
    if (atomic_load(&p->active) > 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->active) > 0)
            pthread_cond_wait(&p->done_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

void hark_pool_free(hark_pool *p)
{
    int i;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->n_threads - 1; i++)
        pthread_join(p->threads[i], NULL);
    hark__free(p->threads);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done_cv);
    pthread_mutex_destroy(&p->mu);
    hark__free(p);
}
