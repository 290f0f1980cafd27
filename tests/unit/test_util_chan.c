/*
 * test_util_chan.c - bounded MPMC channel: FIFO order, full/empty with
 * timeouts, close semantics (senders fail, receivers drain then EOF,
 * blocked threads wake) and many producers/consumers where every item is
 * received exactly once.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kinema/util.h"

#define ITEM(i) ((void *)(uintptr_t)(i))

static void test_fifo_and_len(void **state)
{
    (void)state;
    km_chan *c = km_chan_create(4);
    assert_non_null(c);
    for (int round = 0; round < 3; round++) { /* wraps the ring */
        for (uintptr_t i = 1; i <= 3; i++)
            assert_int_equal(km_chan_send(c, ITEM(i), -1), KM_OK);
        assert_int_equal(km_chan_len(c), 3);
        for (uintptr_t i = 1; i <= 3; i++) {
            void *v = NULL;
            assert_int_equal(km_chan_recv(c, &v, -1), KM_OK);
            assert_ptr_equal(v, ITEM(i));
        }
        assert_int_equal(km_chan_len(c), 0);
    }
    km_chan_destroy(c);
    assert_null(km_chan_create(0));
    km_chan_destroy(NULL);
}

static void test_full_and_empty_time_out(void **state)
{
    (void)state;
    km_chan *c = km_chan_create(2);
    void *v;
    assert_int_equal(km_chan_recv(c, &v, 0), KM_EAGAIN);
    assert_int_equal(km_chan_recv(c, &v, 2000000), KM_EAGAIN); /* 2 ms */
    assert_int_equal(km_chan_send(c, ITEM(1), 0), KM_OK);
    assert_int_equal(km_chan_send(c, ITEM(2), 0), KM_OK);
    assert_int_equal(km_chan_send(c, ITEM(3), 0), KM_EAGAIN);
    assert_int_equal(km_chan_send(c, ITEM(3), 2000000), KM_EAGAIN);
    assert_int_equal(km_chan_len(c), 2);
    km_chan_destroy(c);
}

static void test_close_semantics(void **state)
{
    (void)state;
    km_chan *c = km_chan_create(8);
    assert_int_equal(km_chan_send(c, ITEM(7), -1), KM_OK);
    assert_int_equal(km_chan_send(c, ITEM(8), -1), KM_OK);
    km_chan_close(c);
    assert_int_equal(km_chan_send(c, ITEM(9), -1), KM_ECLOSED);
    assert_int_equal(km_chan_send(c, ITEM(9), 0), KM_ECLOSED);
    void *v;
    assert_int_equal(km_chan_recv(c, &v, -1), KM_OK);
    assert_ptr_equal(v, ITEM(7));
    assert_int_equal(km_chan_recv(c, &v, 0), KM_OK);
    assert_ptr_equal(v, ITEM(8));
    assert_int_equal(km_chan_recv(c, &v, -1), KM_EEOF);
    assert_int_equal(km_chan_recv(c, &v, 0), KM_EEOF);
    km_chan_close(c); /* twice is harmless */
    km_chan_destroy(c);
}

typedef struct {
    km_chan *c;
    int rc;
} blocked;

static void *blocked_recv(void *arg)
{
    blocked *b = arg;
    void *v;
    b->rc = km_chan_recv(b->c, &v, -1);
    return NULL;
}

static void *blocked_send(void *arg)
{
    blocked *b = arg;
    b->rc = km_chan_send(b->c, ITEM(1), -1);
    return NULL;
}

static void test_close_wakes_blocked_threads(void **state)
{
    (void)state;
    km_chan *empty = km_chan_create(1);
    km_chan *full = km_chan_create(1);
    assert_int_equal(km_chan_send(full, ITEM(5), -1), KM_OK);
    blocked r = { empty, 99 }, s = { full, 99 };
    pthread_t tr, ts;
    pthread_create(&tr, NULL, blocked_recv, &r);
    pthread_create(&ts, NULL, blocked_send, &s);
    km_sleep_ns(20000000); /* let them block (correct either way) */
    km_chan_close(empty);
    km_chan_close(full);
    pthread_join(tr, NULL);
    pthread_join(ts, NULL);
    assert_int_equal(r.rc, KM_EEOF);
    assert_int_equal(s.rc, KM_ECLOSED);
    void *v;
    assert_int_equal(km_chan_recv(full, &v, -1), KM_OK); /* the item survives */
    assert_ptr_equal(v, ITEM(5));
    km_chan_destroy(empty);
    km_chan_destroy(full);
}

#define PRODUCERS 4
#define CONSUMERS 4
#define PER_PRODUCER 20000

typedef struct {
    km_chan *c;
    int id;
    int *seen;       /* shared, indexed by item id */
    long received;
    int bad;
    int64_t timeout; /* send/recv timeout: -1 or a finite one with retry */
} worker;

static void *producer(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        uintptr_t id = (uintptr_t)w->id * PER_PRODUCER + (uintptr_t)i + 1;
        int rc;
        while ((rc = km_chan_send(w->c, ITEM(id), w->timeout)) == KM_EAGAIN)
            sched_yield();
        if (rc != KM_OK)
            w->bad = 1;
    }
    return NULL;
}

static void *consumer(void *arg)
{
    worker *w = arg;
    for (;;) {
        void *v;
        int rc = km_chan_recv(w->c, &v, w->timeout);
        if (rc == KM_EAGAIN) {
            sched_yield();
            continue;
        }
        if (rc == KM_EEOF)
            return NULL;
        if (rc != KM_OK) {
            w->bad = 1;
            return NULL;
        }
        uintptr_t id = (uintptr_t)v;
        if (id < 1 || id > PRODUCERS * PER_PRODUCER) {
            w->bad = 1;
            continue;
        }
        __atomic_add_fetch(&w->seen[id], 1, __ATOMIC_RELAXED);
        w->received++;
    }
}

static void run_mpmc(size_t capacity, int64_t timeout)
{
    km_chan *c = km_chan_create(capacity);
    int *seen = calloc(PRODUCERS * PER_PRODUCER + 1, sizeof *seen);
    worker prod[PRODUCERS], cons[CONSUMERS];
    pthread_t tp[PRODUCERS], tc[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) {
        cons[i] = (worker){ c, i, seen, 0, 0, timeout };
        pthread_create(&tc[i], NULL, consumer, &cons[i]);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        prod[i] = (worker){ c, i, seen, 0, 0, timeout };
        pthread_create(&tp[i], NULL, producer, &prod[i]);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(tp[i], NULL);
        assert_false(prod[i].bad);
    }
    km_chan_close(c);
    long total = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        pthread_join(tc[i], NULL);
        assert_false(cons[i].bad);
        total += cons[i].received;
    }
    assert_int_equal(total, PRODUCERS * PER_PRODUCER);
    for (int id = 1; id <= PRODUCERS * PER_PRODUCER; id++)
        assert_int_equal(seen[id], 1);
    assert_int_equal(km_chan_len(c), 0);
    free(seen);
    km_chan_destroy(c);
}

static void test_mpmc_every_item_once_blocking(void **state)
{
    (void)state;
    run_mpmc(8, -1);
    run_mpmc(1, -1);
}

static void test_mpmc_every_item_once_with_timeouts(void **state)
{
    (void)state;
    run_mpmc(3, 50000);  /* 50 us timeouts: many EAGAIN retries */
    run_mpmc(16, 0);     /* pure polling */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_and_len),
        cmocka_unit_test(test_full_and_empty_time_out),
        cmocka_unit_test(test_close_semantics),
        cmocka_unit_test(test_close_wakes_blocked_threads),
        cmocka_unit_test(test_mpmc_every_item_once_blocking),
        cmocka_unit_test(test_mpmc_every_item_once_with_timeouts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
