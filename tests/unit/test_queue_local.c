/* test_queue_local.c - the in-process durable queue: idempotent push,
 * exclusive claims, lease expiry and lost-lease acks, release and final
 * failure, recovery of tasks left claimed by a killed process, worker
 * threads completing every task exactly once, retries, the pending bound,
 * and checkpointing on close. Waits are bounded polls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kinema/queue.h"

typedef struct fixture {
    char dir[64];
    km_store *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/kinema-queue-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/q.db", f->dir);
    if (km_store_open(&f->s, url))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    km_store_close(f->s);
    km_rmtree(f->dir);
    free(f);
    return 0;
}

static km_queue *open_q(fixture *f, int64_t lease_ms, km_queue_fn fn, void *data)
{
    km_queue_opts o = {"t", 3, lease_ms, 2, 0, fn, data};
    km_queue *q = NULL;
    assert_int_equal(km_queue_open(&q, "local", f->s, &o), 0);
    return q;
}

static km_task_rec task_of(fixture *f, const char *key)
{
    km_task_rec t;
    assert_int_equal(km_store_task_get(f->s, "t", key, &t), 0);
    return t;
}

static void test_push_claim(void **state)
{
    fixture *f = *state;
    km_queue *q = open_q(f, 60000, NULL, NULL);
    int created = -1;
    assert_int_equal(km_queue_push(q, "a", "{\"n\":1}", &created), 0);
    assert_int_equal(created, 1);
    assert_int_equal(km_queue_push(q, "a", "{\"n\":2}", &created), 0);
    assert_int_equal(created, 0);
    assert_int_equal(km_queue_push(q, "b", "{}", &created), 0);
    km_task ta, tb, tc;
    assert_int_equal(km_queue_claim(q, "A", &ta), 0);
    assert_string_equal(ta.key, "a");
    assert_string_equal(ta.payload, "{\"n\":1}");
    assert_int_equal(ta.attempts, 1);
    assert_int_equal(km_queue_claim(q, "B", &tb), 0);
    assert_string_equal(tb.key, "b");
    assert_int_equal(km_queue_claim(q, "C", &tc), KM_EAGAIN);
    assert_int_equal(km_queue_ack(q, &ta, "B"), KM_ENOTFOUND); /* not B's */
    assert_int_equal(km_queue_ack(q, &ta, "A"), 0);
    assert_int_equal(km_queue_ack(q, &ta, "A"), KM_ENOTFOUND); /* once */
    assert_int_equal(task_of(f, "a").completions, 1);
    assert_string_equal(task_of(f, "a").state, "done");
    /* A done key is never queued again. */
    assert_int_equal(km_queue_push(q, "a", "{}", &created), 0);
    assert_int_equal(created, 0);
    assert_int_equal(km_queue_release(q, &tb, "B", 0, "later"), 0);
    assert_string_equal(task_of(f, "b").state, "pending");
    assert_int_equal(km_queue_claim(q, "C", &tc), 0);
    assert_int_equal(tc.attempts, 2);
    assert_int_equal(km_queue_release(q, &tc, "C", 1, "broken"), 0);
    assert_string_equal(task_of(f, "b").state, "failed");
    assert_string_equal(task_of(f, "b").error, "broken");
    int64_t n;
    assert_int_equal(km_queue_backlog(q, &n), 0);
    assert_int_equal(n, 0);
    km_queue_close(q);
}

static void test_lease_expiry(void **state)
{
    fixture *f = *state;
    km_queue *q = open_q(f, 1, NULL, NULL);
    assert_int_equal(km_queue_push(q, "x", "{}", NULL), 0);
    km_task t1, t2;
    assert_int_equal(km_queue_claim(q, "A", &t1), 0);
    usleep(30 * 1000); /* the 1 ms lease is long gone */
    assert_int_equal(km_queue_claim(q, "B", &t2), 0);
    assert_int_equal(t2.id, t1.id);
    assert_int_equal(t2.attempts, 2);
    assert_int_equal(km_queue_extend(q, &t1, "A"), KM_ENOTFOUND);
    assert_int_equal(km_queue_ack(q, &t1, "A"), KM_ENOTFOUND); /* lost lease */
    assert_int_equal(km_queue_ack(q, &t2, "B"), 0);
    assert_int_equal(task_of(f, "x").completions, 1);
    km_queue_close(q);
}

typedef struct counter {
    atomic_int runs[64];
    atomic_int total;
    int fail_key;      /* this key always fails */
    int block;         /* handlers wait for close */
} counter;

static int handler(km_queue *q, const km_task *t, void *data)
{
    counter *c = data;
    int k = atoi(t->key);
    atomic_fetch_add(&c->runs[k], 1);
    atomic_fetch_add(&c->total, 1);
    if (k == c->fail_key)
        return km_seterr(KM_EIO, "always fails");
    if (c->block) {
        for (int i = 0; i < 2000 && !km_queue_stopping(q); i++)
            usleep(1000);
        return km_queue_stopping(q) ? KM_ECANCELED : 0;
    }
    return 0;
}

/* Bounded wait until no task is pending or claimed. */
static void drain(km_queue *q)
{
    int64_t n = 1;
    for (int i = 0; i < 3000 && n > 0; i++) {
        assert_int_equal(km_queue_backlog(q, &n), 0);
        if (n)
            usleep(5000);
    }
    assert_int_equal(n, 0);
}

static void test_workers_exactly_once(void **state)
{
    fixture *f = *state;
    counter c;
    memset(&c, 0, sizeof c);
    c.fail_key = 63;
    km_queue *q = open_q(f, 60000, handler, &c);
    char key[16];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "%d", i);
        assert_int_equal(km_queue_push(q, key, "{}", NULL), 0);
    }
    assert_int_equal(km_queue_push(q, "63", "{}", NULL), 0);
    assert_int_equal(km_queue_start(q, 1), 0);
    drain(q);
    km_queue_close(q);
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "%d", i);
        assert_int_equal(atomic_load(&c.runs[i]), 1);
        assert_int_equal(task_of(f, key).completions, 1);
    }
    /* The failing task was tried max_attempts (2) times, then failed. */
    assert_int_equal(atomic_load(&c.runs[63]), 2);
    assert_string_equal(task_of(f, "63").state, "failed");
}

static void test_crash_recovery(void **state)
{
    fixture *f = *state;
    /* A "killed" consumer: claims and never acks (lease still valid). */
    km_queue *dead = open_q(f, 600000, NULL, NULL);
    assert_int_equal(km_queue_push(dead, "1", "{}", NULL), 0);
    assert_int_equal(km_queue_push(dead, "2", "{}", NULL), 0);
    km_task t;
    assert_int_equal(km_queue_claim(dead, "old-pid-w0", &t), 0);
    km_queue_close(dead);
    counter c;
    memset(&c, 0, sizeof c);
    c.fail_key = -1;
    km_queue *q = open_q(f, 600000, handler, &c);
    assert_int_equal(km_queue_start(q, 1), 0); /* requeues the orphan */
    drain(q);
    km_queue_close(q);
    assert_int_equal(atomic_load(&c.runs[1]), 1);
    assert_int_equal(atomic_load(&c.runs[2]), 1);
    assert_int_equal(task_of(f, "1").completions, 1);
    assert_int_equal(task_of(f, "1").attempts, 2);
    assert_int_equal(task_of(f, "2").completions, 1);
}

static void test_close_checkpoints(void **state)
{
    fixture *f = *state;
    counter c;
    memset(&c, 0, sizeof c);
    c.fail_key = -1;
    c.block = 1;
    km_queue *q = open_q(f, 600000, handler, &c);
    assert_int_equal(km_queue_push(q, "5", "{}", NULL), 0);
    assert_int_equal(km_queue_start(q, 0), 0);
    for (int i = 0; i < 2000 && atomic_load(&c.total) == 0; i++)
        usleep(1000);
    assert_int_equal(atomic_load(&c.total), 1);
    km_queue_close(q); /* the handler returns KM_ECANCELED */
    km_task_rec t = task_of(f, "5");
    assert_string_equal(t.state, "pending");
    assert_int_equal(t.completions, 0);
}

static void test_bound_and_urls(void **state)
{
    fixture *f = *state;
    km_queue_opts o = {"t", 1, 1000, 1, 2, NULL, NULL};
    km_queue *q;
    assert_int_equal(km_queue_open(&q, "redis://localhost", f->s, &o), KM_EUNSUPPORTED);
    assert_int_equal(km_queue_open(&q, "nats://x", f->s, &o), KM_EINVAL);
    assert_int_equal(km_queue_open(&q, NULL, f->s, &o), 0);
    assert_int_equal(km_queue_push(q, "a", "{}", NULL), 0);
    assert_int_equal(km_queue_push(q, "b", "{}", NULL), 0);
    assert_int_equal(km_queue_push(q, "c", "{}", NULL), KM_EAGAIN);
    int created = 1;
    assert_int_equal(km_queue_push(q, "a", "{}", &created), 0); /* known key: fine */
    assert_int_equal(created, 0);
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    km_queue_close(q);
    o.max_pending = 0;
    assert_int_equal(km_queue_open(&q, "local", f->s, &o), 0);
    assert_int_equal(km_queue_push(q, "big", big, NULL), KM_ERANGE);
    km_queue_close(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_push_claim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workers_exactly_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_checkpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bound_and_urls, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
