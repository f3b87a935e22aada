/*
 * sched.h: the scheduler's internal interface, for pipelines (src/pipeline/).
 *
 * A client (one pipeline) owns a hark__sched_queue and pushes hark__task
 * items into it. Workers take the first task of the queue whose turn it is:
 * the most urgent class with work, round-robin between the queues of that
 * class. A task is run exactly once by one worker, unless hark__sched_drain
 * removes it first; either way its owner gets it back (run or drop).
 */
#ifndef HARK_SCHED_H
#define HARK_SCHED_H

#include "hark/scheduler.h"

/** What a task learns about the worker running it. */
typedef struct hark__worker_info {
    unsigned index;   /* worker number, 0..workers-1 */
    unsigned busy;    /* workers busy when this task started, this one included (>= 1) */
    unsigned workers; /* workers of the scheduler */
} hark__worker_info;

typedef struct hark__task hark__task;
struct hark__task {
    hark__task *next; /* queue link, owned by the scheduler while queued */
    /* Run on a worker thread. The task may be freed inside. */
    void (*run)(hark__task *t, const hark__worker_info *w);
};

/* A client's FIFO of tasks. Embed it, init it, and detach it before freeing. */
typedef struct hark__sched_queue {
    hark_priority priority;
    hark__task *head, *tail;               /* pending tasks, FIFO */
    size_t n;                              /* pending tasks */
    struct hark__sched_queue *prev, *next; /* ring of queues with work, per class */
    int in_ring;
} hark__sched_queue;

void hark__sched_queue_init(hark__sched_queue *q, hark_priority priority);

/* Append `t` to `q` and wake a worker. */
void hark__sched_push(hark_scheduler *s, hark__sched_queue *q, hark__task *t);

/*
 * Remove every pending task of `q` (the ones not yet taken by a worker) and
 * hand each to drop(t, payload) after the scheduler's lock is released.
 * Returns how many were removed. After it, no task of `q` starts any more
 * unless pushed again.
 */
size_t hark__sched_drain(hark_scheduler *s, hark__sched_queue *q,
                         void (*drop)(hark__task *t, void *payload), void *payload);

#endif
