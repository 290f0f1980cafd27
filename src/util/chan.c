/*
 * chan.c - bounded multi-producer multi-consumer channel of pointers.
 *
 * A ring buffer guarded by one mutex, with one condition variable for
 * "not full" (senders wait) and one for "not empty" (receivers wait).
 * Timeouts are absolute deadlines on CLOCK_MONOTONIC so they survive
 * wall-clock changes. Closing wakes everyone: senders fail at once,
 * receivers drain what is left and then get KM_EEOF.
 *
 * Ownership: the channel never owns items; a received item belongs to the
 * receiver. km_chan_destroy frees only the channel.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "kinema/util.h"

struct km_chan {
    pthread_mutex_t lock;
    pthread_cond_t not_full;
    pthread_cond_t not_empty;
    void **ring;
    size_t cap, head, len;
    int closed;
};

km_chan *km_chan_create(size_t capacity)
{
    if (capacity == 0 || capacity > SIZE_MAX / sizeof(void *)) {
        km_seterr(KM_EINVAL, "km_chan_create: capacity %zu must be >= 1", capacity);
        return NULL;
    }
    km_chan *c = calloc(1, sizeof *c);
    void **ring = calloc(capacity, sizeof *ring);
    if (!c || !ring) {
        free(c);
        free(ring);
        km_seterr(KM_ENOMEM, "km_chan_create: out of memory for %zu items", capacity);
        return NULL;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->not_full, &attr);
    pthread_cond_init(&c->not_empty, &attr);
    pthread_condattr_destroy(&attr);
    c->ring = ring;
    c->cap = capacity;
    return c;
}

static struct timespec deadline_after(int64_t timeout_ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t sec = timeout_ns / 1000000000;
    long nsec = ts.tv_nsec + (long)(timeout_ns % 1000000000);
    if (nsec >= 1000000000) {
        nsec -= 1000000000;
        sec++;
    }
    ts.tv_sec += (time_t)sec;
    ts.tv_nsec = nsec;
    return ts;
}

/* Waits on cv (lock held) until woken or the deadline; returns 0 on
 * timeout, 1 otherwise. timeout_ns < 0 waits without a deadline. */
static int wait_until(pthread_cond_t *cv, pthread_mutex_t *lock, int64_t timeout_ns,
                      const struct timespec *deadline)
{
    if (timeout_ns < 0) {
        pthread_cond_wait(cv, lock);
        return 1;
    }
    return pthread_cond_timedwait(cv, lock, deadline) == 0;
}

int km_chan_send(km_chan *c, void *item, int64_t timeout_ns)
{
    struct timespec deadline = { 0, 0 };
    if (timeout_ns > 0)
        deadline = deadline_after(timeout_ns);
    pthread_mutex_lock(&c->lock);
    while (!c->closed && c->len == c->cap) {
        if (timeout_ns == 0 || !wait_until(&c->not_full, &c->lock, timeout_ns, &deadline)) {
            if (!c->closed && c->len == c->cap) {
                pthread_mutex_unlock(&c->lock);
                return KM_EAGAIN;
            }
        }
    }
    if (c->closed) {
        pthread_mutex_unlock(&c->lock);
        return KM_ECLOSED;
    }
    c->ring[(c->head + c->len) % c->cap] = item;
    c->len++;
    pthread_cond_signal(&c->not_empty);
    pthread_mutex_unlock(&c->lock);
    return KM_OK;
}

int km_chan_recv(km_chan *c, void **item, int64_t timeout_ns)
{
    struct timespec deadline = { 0, 0 };
    if (timeout_ns > 0)
        deadline = deadline_after(timeout_ns);
    pthread_mutex_lock(&c->lock);
    while (!c->closed && c->len == 0) {
        if (timeout_ns == 0 || !wait_until(&c->not_empty, &c->lock, timeout_ns, &deadline)) {
            if (!c->closed && c->len == 0) {
                pthread_mutex_unlock(&c->lock);
                return KM_EAGAIN;
            }
        }
    }
    if (c->len == 0) { /* closed and drained */
        pthread_mutex_unlock(&c->lock);
        return KM_EEOF;
    }
    *item = c->ring[c->head];
    c->head = (c->head + 1) % c->cap;
    c->len--;
    pthread_cond_signal(&c->not_full);
    pthread_mutex_unlock(&c->lock);
    return KM_OK;
}

void km_chan_close(km_chan *c)
{
    pthread_mutex_lock(&c->lock);
    c->closed = 1;
    pthread_cond_broadcast(&c->not_full);
    pthread_cond_broadcast(&c->not_empty);
    pthread_mutex_unlock(&c->lock);
}

size_t km_chan_len(km_chan *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->len;
    pthread_mutex_unlock(&c->lock);
    return n;
}

void km_chan_destroy(km_chan *c)
{
    if (!c)
        return;
    pthread_cond_destroy(&c->not_empty);
    pthread_cond_destroy(&c->not_full);
    pthread_mutex_destroy(&c->lock);
    free(c->ring);
    free(c);
}
