/*
 * queue_local.c - the in-process km_queue: tasks persisted in km_store,
 * worker threads claiming with leases.
 *
 * Why: the embedded server must not lose or repeat work across kill -9.
 * A push commits to the store before the HTTP answer; workers are woken by
 * a condition variable (and poll every 500 ms as a backstop, e.g. for
 * expired leases). While a handler runs, a heartbeat is not needed: the
 * lease (10 min by default) covers one chunk; handlers of long tasks call
 * km_queue_extend.
 *
 * Ownership: the queue owns its threads; it borrows the store.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kinema/queue.h"

#define MAX_WORKERS 64

struct km_queue {
    km_store *store;
    km_queue_opts o;
    char name[32];
    char instance[32];
    atomic_int stopping;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int nthreads;
    pthread_t threads[MAX_WORKERS];
    struct worker { struct km_queue *q; int id; } workers[MAX_WORKERS];
};

static int64_t now_ms(void) { return (int64_t)(km_wall_s() * 1000.0); }

int km_queue_open(km_queue **out, const char *url, km_store *store, const km_queue_opts *opts)
{
    if (url && *url && strcmp(url, "local") != 0) {
        if (strncmp(url, "redis://", 8) == 0)
            return km_seterr(KM_EUNSUPPORTED, "Redis queue is not available yet (use local)");
        return km_seterr(KM_EINVAL, "unknown queue URL %s", url);
    }
    km_queue *q = calloc(1, sizeof *q);
    if (!q)
        return km_seterr(KM_ENOMEM, "out of memory");
    q->store = store;
    q->o = *opts;
    snprintf(q->name, sizeof q->name, "%s", opts->name ? opts->name : "default");
    if (q->o.workers == 0)
        q->o.workers = 2;
    if (q->o.workers > MAX_WORKERS)
        q->o.workers = MAX_WORKERS;
    if (q->o.lease_ms <= 0)
        q->o.lease_ms = 600000;
    if (q->o.max_attempts <= 0)
        q->o.max_attempts = 3;
    snprintf(q->instance, sizeof q->instance, "%d-%lld", (int)getpid(), (long long)now_ms());
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    *out = q;
    return KM_OK;
}

int km_queue_stopping(const km_queue *q) { return atomic_load(&((km_queue *)q)->stopping); }

int km_queue_backlog(km_queue *q, int64_t *n)
{
    int64_t a = 0, b = 0;
    int rc = km_store_task_count(q->store, q->name, "pending", &a);
    if (!rc)
        rc = km_store_task_count(q->store, q->name, "claimed", &b);
    *n = a + b;
    return rc;
}

int km_queue_push(km_queue *q, const char *key, const char *payload, int *created)
{
    if (q->o.max_pending > 0) {
        int64_t n = 0;
        int rc = km_queue_backlog(q, &n);
        if (rc)
            return rc;
        if (n >= q->o.max_pending) {
            km_task_rec existing;
            if (km_store_task_get(q->store, q->name, key, &existing) != KM_OK)
                return km_seterr(KM_EAGAIN, "queue full (%lld tasks waiting)", (long long)n);
        }
    }
    int made = 0;
    int rc = km_store_task_push(q->store, q->name, key, payload, NULL, &made);
    if (created)
        *created = made;
    if (!rc && made) {
        pthread_mutex_lock(&q->mu);
        pthread_cond_signal(&q->cv);
        pthread_mutex_unlock(&q->mu);
    }
    return rc;
}

int km_queue_claim(km_queue *q, const char *owner, km_task *out)
{
    km_task_rec r;
    int rc = km_store_task_claim(q->store, q->name, owner, now_ms(), q->o.lease_ms, &r);
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    out->id = r.id;
    snprintf(out->key, sizeof out->key, "%s", r.key);
    snprintf(out->payload, sizeof out->payload, "%s", r.payload);
    out->attempts = r.attempts;
    return KM_OK;
}

int km_queue_extend(km_queue *q, const km_task *t, const char *owner)
{
    return km_store_task_extend(q->store, t->id, owner, now_ms() + q->o.lease_ms);
}

int km_queue_ack(km_queue *q, const km_task *t, const char *owner)
{
    return km_store_task_ack(q->store, t->id, owner);
}

int km_queue_release(km_queue *q, const km_task *t, const char *owner, int final,
                     const char *error)
{
    return km_store_task_release(q->store, t->id, owner, final, error);
}

/* Run one claimed task and settle it. */
static void run_task(km_queue *q, const char *owner, const km_task *t)
{
    km_log_set_request_id(t->key);
    int rc = q->o.fn ? q->o.fn(q, t, q->o.data) : KM_EUNSUPPORTED;
    if (rc == KM_OK) {
        if (km_queue_ack(q, t, owner) != KM_OK)
            km_log(KM_LOG_WARN, "task %s: lease lost before ack: %s", t->key, km_errmsg());
    } else if (rc == KM_ECANCELED || rc == KM_EAGAIN) {
        km_queue_release(q, t, owner, 0, rc == KM_ECANCELED ? "interrupted" : km_errmsg());
    } else {
        char err[256];
        snprintf(err, sizeof err, "%s", km_errmsg());
        int final = t->attempts >= q->o.max_attempts;
        km_log(KM_LOG_ERROR, "task %s failed (attempt %d): %s", t->key, t->attempts, err);
        km_queue_release(q, t, owner, final, err);
    }
    km_log_set_request_id(NULL);
}

static void wait_for_work(km_queue *q)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 500 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&q->mu);
    if (!atomic_load(&q->stopping))
        pthread_cond_timedwait(&q->cv, &q->mu, &ts);
    pthread_mutex_unlock(&q->mu);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    km_queue *q = w->q;
    char owner[64];
    snprintf(owner, sizeof owner, "%s-w%d", q->instance, w->id);
    while (!atomic_load(&q->stopping)) {
        km_task t;
        int rc = km_queue_claim(q, owner, &t);
        if (rc == KM_OK) {
            run_task(q, owner, &t);
            continue;
        }
        if (rc != KM_EAGAIN)
            km_log(KM_LOG_ERROR, "queue %s: claim failed: %s", q->name, km_errmsg());
        wait_for_work(q);
    }
    return NULL;
}

int km_queue_start(km_queue *q, int recover)
{
    if (recover) {
        int n = km_store_task_requeue_claimed(q->store, q->name);
        if (n < 0)
            return n;
        if (n > 0)
            km_log(KM_LOG_INFO, "queue %s: %d interrupted task(s) requeued", q->name, n);
    }
    for (int i = 0; i < q->o.workers; i++) {
        q->workers[i].q = q;
        q->workers[i].id = i;
        if (pthread_create(&q->threads[i], NULL, worker_main, &q->workers[i]) != 0)
            return km_seterr(KM_EIO, "cannot start worker thread %d", i);
        q->nthreads++;
    }
    return KM_OK;
}

void km_queue_close(km_queue *q)
{
    if (!q)
        return;
    atomic_store(&q->stopping, 1);
    pthread_mutex_lock(&q->mu);
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->nthreads; i++)
        pthread_join(q->threads[i], NULL);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q);
}
