/*
 * pool.h: a fork-join thread pool for data-parallel compute (matrix
 * products, attention heads, mel frames).
 *
 *     hark_pool_run(pool, n_tasks, fn, payload)
 *
 * calls fn(payload, task, worker) for task = 0..n_tasks-1 spread over the
 * pool's threads plus the calling thread, and returns when all are done.
 * Tasks are handed out in order from an atomic counter. Results must not
 * depend on which worker ran a task (write disjoint outputs), which keeps
 * numerics identical whatever the thread count.
 *
 * A pool runs one job at a time; hark_pool_run is not reentrant and a pool
 * must be used by one caller thread at a time. A pool of 1 thread runs
 * everything on the caller without any synchronisation.
 */
#ifndef HARK_POOL_H
#define HARK_POOL_H

typedef struct hark_pool hark_pool;

typedef void (*hark_pool_fn)(void *payload, int task, int worker);

/* Create a pool using `n_threads` threads in total (the caller counts as one). */
int hark_pool_new(hark_pool **out, int n_threads);
void hark_pool_free(hark_pool *pool);
int hark_pool_threads(const hark_pool *pool);
void hark_pool_run(hark_pool *pool, int n_tasks, hark_pool_fn fn, void *payload);

#endif
