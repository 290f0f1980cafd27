/*
 * kinema/queue.h - task queue: at-least-once delivery with leases, made
 * exactly-once by idempotent handlers and an ack that only the lease
 * holder can give.
 *
 * Why an interface: the in-process implementation ("local", the default)
 * keeps tasks in the km_store so they survive kill -9; Redis Streams
 * (consumer groups + XAUTOCLAIM) will be another implementation behind the
 * same calls for many machines.
 *
 * Delivery contract, whatever the backend:
 *   - push(key) is idempotent: a key already pushed is not queued again.
 *   - claim gives a task to one consumer until its lease expires; an
 *     expired lease (consumer died or hung) makes it claimable again.
 *   - a handler must write its results idempotently (atomic rename of
 *     complete files) before ack; ack by a consumer that lost its lease
 *     fails, so each task completes exactly once.
 *
 * Ownership: km_queue borrows the km_store (it must outlive the queue).
 * Thread safety: every call may be made from any thread.
 */
#ifndef KINEMA_QUEUE_H
#define KINEMA_QUEUE_H

#include <stdint.h>

#include "kinema/store.h"
#include "kinema/util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct km_queue km_queue;

typedef struct km_task {
    int64_t id;
    char key[192];
    char payload[1024];
    int attempts;            /* including this one */
} km_task;

/* A worker's handler. Return 0 when the results are written (the queue
 * acks), KM_EAGAIN to retry later, KM_ECANCELED when it stopped because the
 * queue is closing (released, retried at next start), any other negative
 * code to fail (retried until max_attempts, then failed for good). */
typedef int (*km_queue_fn)(km_queue *q, const km_task *t, void *data);

typedef struct km_queue_opts {
    const char *name;        /* queue name in the store; default "default" */
    int workers;             /* worker threads for km_queue_start; 0: default 2;
                                < 0: none (a producer-only queue) */
    int64_t lease_ms;        /* default 600000 */
    int max_attempts;        /* default 3 */
    int64_t max_pending;     /* push fails with KM_EAGAIN at this many
                                pending+claimed tasks; <= 0: no limit */
    km_queue_fn fn;           /* may be NULL for a queue used by claim/ack */
    void *data;
} km_queue_opts;

/* url: "local" (or NULL/""), "redis://..." is KM_EUNSUPPORTED for now.
 * Free with km_queue_close. */
int km_queue_open(km_queue **out, const char *url, km_store *store, const km_queue_opts *opts);
/* Recover tasks left claimed by a dead previous instance (only when this
 * process is the store's single consumer) and start the worker threads. */
int km_queue_start(km_queue *q, int recover);
/* Enqueue; *created (may be NULL) is 0 when the key was already there. */
int km_queue_push(km_queue *q, const char *key, const char *payload, int *created);
/* Tasks pending or claimed. */
int km_queue_backlog(km_queue *q, int64_t *n);
/* 1 once km_queue_close has begun: handlers should checkpoint and return
 * KM_ECANCELED. */
int km_queue_stopping(const km_queue *q);

/* Low-level consumer calls (the worker threads use them; so can tests and
 * other consumers). owner names the consumer. */
int km_queue_claim(km_queue *q, const char *owner, km_task *out);
int km_queue_extend(km_queue *q, const km_task *t, const char *owner);
int km_queue_ack(km_queue *q, const km_task *t, const char *owner);
int km_queue_release(km_queue *q, const km_task *t, const char *owner, int final,
                     const char *error);

/* Stop the workers (each finishes or checkpoints its task), free. */
void km_queue_close(km_queue *q);

#ifdef __cplusplus
}
#endif
#endif /* KINEMA_QUEUE_H */
