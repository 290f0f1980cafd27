/*
 * pool.c - fixed-size thread pool and parallel-for.
 *
 * Workers take tasks from one FIFO queue guarded by a mutex. The pool
 * counts tasks that are queued or running, so km_pool_wait can block until
 * that count drops to zero.
 *
 * km_pool_parallel_for does not wait for pool tasks: each call owns a small
 * heap "job" whose ranges are handed out by an atomic counter. The caller
 * and any helper tasks it queued all take ranges until none are left; the
 * caller then waits only until every range is *finished*. Because the
 * caller can do all the work alone, a call made from inside a pool task
 * (or from many threads at once while every worker is busy) cannot
 * deadlock. Helpers that start late find no work and just drop their
 * reference; the last reference frees the job.
 *
 * Ownership: task arguments are borrowed; the pool frees only its own
 * queue nodes and jobs.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "kinema/util.h"

#define POOL_MAX_THREADS 1024

typedef struct task {
    km_task_fn fn;
    void *arg;
    struct task *next;
} task;

struct km_pool {
    pthread_mutex_t lock;
    pthread_cond_t work_ready; /* queue non-empty or stopping */
    pthread_cond_t all_done;   /* pending reached zero */
    task *head, *tail;
    size_t pending;            /* queued + running */
    int stopping;
    int nthreads;
    pthread_t *threads;
};

/* ---------------------------------------------------------------- workers */

static task *pop_task_locked(km_pool *p)
{
    task *t = p->head;
    p->head = t->next;
    if (!p->head)
        p->tail = NULL;
    return t;
}

static void *worker_main(void *arg)
{
    km_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->work_ready, &p->lock);
        if (!p->head)
            break; /* stopping and drained */
        task *t = pop_task_locked(p);
        pthread_mutex_unlock(&p->lock);
        t->fn(t->arg);
        free(t);
        pthread_mutex_lock(&p->lock);
        if (--p->pending == 0)
            pthread_cond_broadcast(&p->all_done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n < POOL_MAX_THREADS ? n : POOL_MAX_THREADS) : 1;
}

/* Stops and joins the first `started` workers, then frees everything. */
static void pool_teardown(km_pool *p, int started)
{
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->work_ready);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < started; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->all_done);
    pthread_cond_destroy(&p->work_ready);
    pthread_mutex_destroy(&p->lock);
    free(p->threads);
    free(p);
}

km_pool *km_pool_create(int nthreads)
{
    if (nthreads <= 0)
        nthreads = online_cpus();
    if (nthreads > POOL_MAX_THREADS) {
        km_seterr(KM_ERANGE, "km_pool_create: %d threads exceeds the limit %d", nthreads,
                  POOL_MAX_THREADS);
        return NULL;
    }
    km_pool *p = calloc(1, sizeof *p);
    pthread_t *threads = calloc((size_t)nthreads, sizeof *threads);
    if (!p || !threads) {
        free(p);
        free(threads);
        km_seterr(KM_ENOMEM, "km_pool_create: out of memory");
        return NULL;
    }
    p->threads = threads;
    p->nthreads = nthreads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work_ready, NULL);
    pthread_cond_init(&p->all_done, NULL);
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) {
            pool_teardown(p, i);
            km_seterr(KM_EINTERNAL, "km_pool_create: cannot start thread %d of %d", i,
                      nthreads);
            return NULL;
        }
    }
    return p;
}

int km_pool_size(const km_pool *p)
{
    return p ? p->nthreads : 1;
}

int km_pool_submit(km_pool *p, km_task_fn fn, void *arg)
{
    if (!p || !fn)
        return km_seterr(KM_EINVAL, "km_pool_submit: %s is NULL", p ? "fn" : "pool");
    task *t = malloc(sizeof *t);
    if (!t)
        return km_seterr(KM_ENOMEM, "km_pool_submit: out of memory");
    t->fn = fn;
    t->arg = arg;
    t->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        free(t);
        return km_seterr(KM_ECLOSED, "km_pool_submit: pool is shutting down");
    }
    if (p->tail)
        p->tail->next = t;
    else
        p->head = t;
    p->tail = t;
    p->pending++;
    pthread_cond_signal(&p->work_ready);
    pthread_mutex_unlock(&p->lock);
    return KM_OK;
}

void km_pool_wait(km_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    while (p->pending > 0)
        pthread_cond_wait(&p->all_done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void km_pool_destroy(km_pool *p)
{
    if (!p)
        return;
    pool_teardown(p, p->nthreads);
}

/* ----------------------------------------------------------- parallel for */

typedef struct pfor_job {
    km_range_fn fn;
    void *arg;
    int n, chunks;
    int next_chunk;    /* atomic: next range to hand out */
    int refs;          /* atomic: caller + queued helpers */
    pthread_mutex_t lock;
    pthread_cond_t finished;
    int chunks_done;   /* guarded by lock */
} pfor_job;

static void job_release(pfor_job *job)
{
    if (__atomic_sub_fetch(&job->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        pthread_cond_destroy(&job->finished);
        pthread_mutex_destroy(&job->lock);
        free(job);
    }
}

/* Takes ranges until none are left. */
static void job_run_ranges(pfor_job *job)
{
    for (;;) {
        int c = __atomic_fetch_add(&job->next_chunk, 1, __ATOMIC_RELAXED);
        if (c >= job->chunks)
            return;
        int begin = (int)((int64_t)job->n * c / job->chunks);
        int end = (int)((int64_t)job->n * (c + 1) / job->chunks);
        job->fn(job->arg, begin, end);
        pthread_mutex_lock(&job->lock);
        if (++job->chunks_done == job->chunks)
            pthread_cond_broadcast(&job->finished);
        pthread_mutex_unlock(&job->lock);
    }
}

static void job_helper(void *arg)
{
    pfor_job *job = arg;
    job_run_ranges(job);
    job_release(job);
}

void km_pool_parallel_for(km_pool *p, int n, int chunks, km_range_fn fn, void *arg)
{
    if (n <= 0 || !fn)
        return;
    if (chunks <= 0)
        chunks = km_pool_size(p);
    if (chunks > n)
        chunks = n;
    pfor_job *job = p && chunks > 1 ? calloc(1, sizeof *job) : NULL;
    if (!job) { /* no pool, one chunk, or no memory: run inline */
        fn(arg, 0, n);
        return;
    }
    job->fn = fn;
    job->arg = arg;
    job->n = n;
    job->chunks = chunks;
    job->refs = 1;
    pthread_mutex_init(&job->lock, NULL);
    pthread_cond_init(&job->finished, NULL);
    int helpers = chunks - 1 < p->nthreads ? chunks - 1 : p->nthreads;
    for (int i = 0; i < helpers; i++) {
        __atomic_add_fetch(&job->refs, 1, __ATOMIC_RELAXED);
        if (km_pool_submit(p, job_helper, job) != KM_OK) {
            __atomic_sub_fetch(&job->refs, 1, __ATOMIC_RELAXED);
            break; /* the caller will do the rest */
        }
    }
    job_run_ranges(job);
    pthread_mutex_lock(&job->lock);
    while (job->chunks_done < job->chunks)
        pthread_cond_wait(&job->finished, &job->lock);
    pthread_mutex_unlock(&job->lock);
    job_release(job);
}
