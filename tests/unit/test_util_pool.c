/*
 * test_util_pool.c - thread pool: every task runs exactly once, wait and
 * destroy finish all work, parallel_for covers each index exactly once,
 * also when called from many threads at once and from inside pool tasks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "kinema/util.h"

#define NTASKS 5000

static void bump(void *arg)
{
    __atomic_add_fetch((int *)arg, 1, __ATOMIC_RELAXED);
}

static void test_every_task_runs_once(void **state)
{
    (void)state;
    km_pool *p = km_pool_create(4);
    assert_non_null(p);
    assert_int_equal(km_pool_size(p), 4);
    int *hits = calloc(NTASKS, sizeof *hits);
    for (int i = 0; i < NTASKS; i++)
        assert_int_equal(km_pool_submit(p, bump, &hits[i]), KM_OK);
    km_pool_wait(p);
    for (int i = 0; i < NTASKS; i++)
        assert_int_equal(hits[i], 1);
    /* the pool is reusable after a wait */
    for (int i = 0; i < NTASKS; i++)
        assert_int_equal(km_pool_submit(p, bump, &hits[i]), KM_OK);
    km_pool_wait(p);
    for (int i = 0; i < NTASKS; i++)
        assert_int_equal(hits[i], 2);
    km_pool_destroy(p);
    free(hits);
}

static void slow_bump(void *arg)
{
    km_sleep_ns(100000);
    bump(arg);
}

static void test_destroy_finishes_queued_tasks(void **state)
{
    (void)state;
    km_pool *p = km_pool_create(2);
    int count = 0;
    for (int i = 0; i < 200; i++)
        assert_int_equal(km_pool_submit(p, slow_bump, &count), KM_OK);
    km_pool_destroy(p); /* no wait: destroy must still run them all */
    assert_int_equal(count, 200);
    km_pool_destroy(NULL);
}

static void test_default_size_and_bad_args(void **state)
{
    (void)state;
    km_pool *p = km_pool_create(0);
    assert_non_null(p);
    assert_true(km_pool_size(p) >= 1);
    assert_int_equal(km_pool_submit(p, NULL, NULL), KM_EINVAL);
    km_pool_wait(p); /* nothing submitted: returns at once */
    km_pool_destroy(p);
    assert_null(km_pool_create(100000));
    assert_int_equal(km_pool_submit(NULL, bump, NULL), KM_EINVAL);
}

/* parallel_for: marks[i] counts visits; ranges must be non-empty and
 * inside [0, n). */
typedef struct {
    int *marks;
    int n;
    int bad_range;
    int calls;
    uint64_t delay_ns; /* per range, to widen any race with the caller */
} cover;

static void mark_range(void *arg, int begin, int end)
{
    cover *c = arg;
    if (c->delay_ns)
        km_sleep_ns(c->delay_ns);
    if (begin < 0 || end > c->n || begin >= end)
        __atomic_store_n(&c->bad_range, 1, __ATOMIC_RELAXED);
    for (int i = begin; i < end && i >= 0 && i < c->n; i++)
        __atomic_add_fetch(&c->marks[i], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&c->calls, 1, __ATOMIC_RELAXED);
}

static void check_cover(km_pool *p, int n, int chunks)
{
    cover c = { calloc((size_t)n + 1, sizeof(int)), n, 0, 0, 0 };
    km_pool_parallel_for(p, n, chunks, mark_range, &c);
    assert_false(c.bad_range);
    for (int i = 0; i < n; i++)
        assert_int_equal(c.marks[i], 1);
    int max_chunks = chunks > 0 ? chunks : km_pool_size(p);
    assert_true(c.calls <= max_chunks);
    if (n == 0)
        assert_int_equal(c.calls, 0);
    free(c.marks);
}

static void test_parallel_for_covers_each_index_once(void **state)
{
    (void)state;
    km_pool *p = km_pool_create(3);
    int ns[] = { 0, 1, 2, 3, 7, 100, 1001, 65536 };
    int chunks[] = { -1, 0, 1, 2, 3, 4, 16, 5000, 100000 };
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (size_t j = 0; j < sizeof chunks / sizeof chunks[0]; j++) {
            check_cover(p, ns[i], chunks[j]);
            check_cover(NULL, ns[i], chunks[j]);
        }
    km_pool_destroy(p);
}

static void test_parallel_for_waits_for_slow_ranges(void **state)
{
    (void)state;
    km_pool *p = km_pool_create(4);
    for (int round = 0; round < 5; round++) {
        int n = 64;
        cover c = { calloc((size_t)n, sizeof(int)), n, 0, 0, 2000000 }; /* 2 ms a range */
        km_pool_parallel_for(p, n, 8, mark_range, &c);
        /* read without atomics on purpose: all writes must be visible */
        assert_int_equal(c.calls, 8);
        for (int i = 0; i < n; i++)
            assert_int_equal(c.marks[i], 1);
        free(c.marks);
    }
    km_pool_destroy(p);
}

#define CALLERS 6

typedef struct {
    km_pool *p;
    int ok;
} caller_arg;

static void *concurrent_caller(void *arg)
{
    caller_arg *a = arg;
    a->ok = 1;
    for (int round = 0; round < 50; round++) {
        int n = 500 + round;
        cover c = { calloc((size_t)n, sizeof(int)), n, 0, 0, 0 };
        km_pool_parallel_for(a->p, n, 8, mark_range, &c);
        /* our own call must be complete when it returns */
        for (int i = 0; i < n; i++)
            if (c.marks[i] != 1)
                a->ok = 0;
        if (c.bad_range)
            a->ok = 0;
        free(c.marks);
    }
    return NULL;
}

static void test_parallel_for_from_many_threads(void **state)
{
    (void)state;
    km_pool *p = km_pool_create(2);
    pthread_t t[CALLERS];
    caller_arg args[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        args[i].p = p;
        assert_int_equal(pthread_create(&t[i], NULL, concurrent_caller, &args[i]), 0);
    }
    for (int i = 0; i < CALLERS; i++) {
        pthread_join(t[i], NULL);
        assert_true(args[i].ok);
    }
    km_pool_destroy(p);
}

typedef struct {
    km_pool *p;
    int ok;
} nested_arg;

/* A pool task that itself runs a parallel_for on the same pool: with all
 * workers busy in such tasks, this deadlocks unless callers do the work. */
static void nested_task(void *arg)
{
    nested_arg *a = arg;
    int n = 2000;
    cover c = { calloc((size_t)n, sizeof(int)), n, 0, 0, 0 };
    km_pool_parallel_for(a->p, n, 16, mark_range, &c);
    int ok = !c.bad_range;
    for (int i = 0; i < n; i++)
        ok &= c.marks[i] == 1;
    a->ok = ok;
    free(c.marks);
}

static void test_parallel_for_inside_pool_tasks(void **state)
{
    (void)state;
    km_pool *p = km_pool_create(2);
    nested_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i].p = p;
        args[i].ok = 0;
        assert_int_equal(km_pool_submit(p, nested_task, &args[i]), KM_OK);
    }
    km_pool_wait(p);
    for (int i = 0; i < 8; i++)
        assert_true(args[i].ok);
    km_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_task_runs_once),
        cmocka_unit_test(test_destroy_finishes_queued_tasks),
        cmocka_unit_test(test_default_size_and_bad_args),
        cmocka_unit_test(test_parallel_for_covers_each_index_once),
        cmocka_unit_test(test_parallel_for_waits_for_slow_ranges),
        cmocka_unit_test(test_parallel_for_from_many_threads),
        cmocka_unit_test(test_parallel_for_inside_pool_tasks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
