/*
 * test_util_hist.c - latency histogram: quantiles against a sorted
 * reference stay within the stated 1/64 relative error, extremes are
 * exact, mean, reset and concurrent recording.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kinema/util.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t next_random(void)
{
    /* xorshift64*: deterministic, so failures reproduce */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of sorted values: the ceil(q*n)-th smallest (>= 1st). */
static uint64_t reference_quantile(const uint64_t *sorted, size_t n, double q)
{
    double want = q * (double)n - 1e-9;
    size_t rank = want > 0 ? (size_t)ceil(want) : 1;
    return sorted[rank - 1];
}

static void check_against_reference(uint64_t *values, size_t n)
{
    km_hist *h = km_hist_create();
    long double sum = 0;
    for (size_t i = 0; i < n; i++) {
        km_hist_record(h, values[i]);
        sum += values[i];
    }
    qsort(values, n, sizeof *values, cmp_u64);
    assert_int_equal(km_hist_count(h), n);
    const double qs[] = { 0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0 };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        uint64_t ref = reference_quantile(values, n, qs[i]);
        uint64_t got = km_hist_quantile(h, qs[i]);
        uint64_t diff = got > ref ? got - ref : ref - got;
        if (diff > ref / 64)
            fail_msg("q=%g: got %llu, reference %llu", qs[i], (unsigned long long)got,
                     (unsigned long long)ref);
    }
    assert_int_equal(km_hist_quantile(h, 0.0), values[0]);     /* min exact */
    assert_int_equal(km_hist_quantile(h, 1.0), values[n - 1]); /* max exact */
    double mean = km_hist_mean(h), want = (double)(sum / n);
    assert_true(mean >= want * 0.999999 && mean <= want * 1.000001);
    km_hist_destroy(h);
}

static void test_empty_histogram(void **state)
{
    (void)state;
    km_hist *h = km_hist_create();
    assert_int_equal(km_hist_count(h), 0);
    assert_int_equal(km_hist_quantile(h, 0.5), 0);
    assert_true(km_hist_mean(h) == 0.0);
    km_hist_destroy(h);
    km_hist_destroy(NULL);
}

static void test_small_values_are_exact(void **state)
{
    (void)state;
    km_hist *h = km_hist_create();
    for (uint64_t v = 1; v <= 100; v++)
        km_hist_record(h, v);
    assert_int_equal(km_hist_quantile(h, 0.5), 50);
    assert_int_equal(km_hist_quantile(h, 0.99), 99);
    assert_int_equal(km_hist_quantile(h, 0.01), 1);
    assert_int_equal(km_hist_quantile(h, -3), 1);  /* clamped */
    assert_int_equal(km_hist_quantile(h, 7), 100); /* clamped */
    assert_true(km_hist_mean(h) == 50.5);
    km_hist_reset(h);
    assert_int_equal(km_hist_count(h), 0);
    assert_int_equal(km_hist_quantile(h, 0.5), 0);
    km_hist_record(h, 12345);
    assert_int_equal(km_hist_quantile(h, 0.5), 12345);
    km_hist_destroy(h);
}

static void test_log_uniform_values_within_error(void **state)
{
    (void)state;
    size_t n = 100000;
    uint64_t *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        unsigned bits = (unsigned)(next_random() % 63) + 1; /* 1 ns .. ~2^63 */
        v[i] = (next_random() >> (64 - bits)) | 1;
    }
    check_against_reference(v, n);
    free(v);
}

static void test_latency_like_values_within_error(void **state)
{
    (void)state;
    size_t n = 50000;
    uint64_t *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) /* 1-40 ms with a tail */
        v[i] = 1000000 + next_random() % 39000000 + (i % 100 == 0 ? next_random() % 1000000000 : 0);
    check_against_reference(v, n);
    free(v);
}

static void test_extreme_values(void **state)
{
    (void)state;
    uint64_t v[] = { 0, 1, UINT64_MAX, UINT64_MAX - 1, (uint64_t)1 << 63, 127, 128, 129 };
    check_against_reference(v, sizeof v / sizeof v[0]);
}

#define HTHREADS 4
#define HPER 25000

static void *record_many(void *arg)
{
    km_hist *h = arg;
    for (uint64_t i = 1; i <= HPER; i++)
        km_hist_record(h, i * 1000);
    return NULL;
}

static void test_concurrent_recording(void **state)
{
    (void)state;
    km_hist *h = km_hist_create();
    pthread_t t[HTHREADS];
    for (int i = 0; i < HTHREADS; i++)
        pthread_create(&t[i], NULL, record_many, h);
    for (int i = 0; i < HTHREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(km_hist_count(h), HTHREADS * HPER);
    uint64_t p50 = km_hist_quantile(h, 0.5), want = (HPER / 2) * 1000;
    assert_true(p50 >= want - want / 64 && p50 <= want + want / 64);
    assert_int_equal(km_hist_quantile(h, 1.0), (uint64_t)HPER * 1000);
    km_hist_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_histogram),
        cmocka_unit_test(test_small_values_are_exact),
        cmocka_unit_test(test_log_uniform_values_within_error),
        cmocka_unit_test(test_latency_like_values_within_error),
        cmocka_unit_test(test_extreme_values),
        cmocka_unit_test(test_concurrent_recording),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
