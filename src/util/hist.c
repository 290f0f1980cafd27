/*
 * hist.c - thread-safe latency histogram with bounded relative error.
 *
 * Log-linear buckets in the style of HdrHistogram: values below 128 get a
 * bucket each; above that, every power of two [2^k, 2^(k+1)) is split into
 * 64 equal sub-buckets, so a bucket's width is at most 1/64 of its lower
 * bound. Any value reported from a bucket is therefore within 1/64 of every
 * value recorded in it. 3776 counters cover the whole uint64 range in
 * ~30 KiB. One mutex guards the counters; recording is a few instructions
 * inside it, cheap next to whatever is being timed.
 *
 * Ownership: km_hist_create returns an owned histogram freed by
 * km_hist_destroy.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/util.h"

#define SUB_BITS 6
#define SUB_COUNT (1u << SUB_BITS)                   /* 64 */
#define BUCKETS ((64 - SUB_BITS) * SUB_COUNT + SUB_COUNT) /* 3776 */

struct km_hist {
    pthread_mutex_t lock;
    uint64_t count;
    long double sum;
    uint64_t min, max;
    uint64_t buckets[BUCKETS];
};

/* Bucket of v: exact below 2*SUB_COUNT, log-linear above. */
static unsigned bucket_of(uint64_t v)
{
    if (v < 2 * SUB_COUNT)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - SUB_BITS;                /* >= 1 */
    unsigned sub = (unsigned)(v >> shift) - SUB_COUNT; /* 0..63 */
    return (shift + 1) * SUB_COUNT + sub;
}

/* Smallest value of bucket b, and its width. */
static void bucket_range(unsigned b, uint64_t *low, uint64_t *width)
{
    if (b < 2 * SUB_COUNT) {
        *low = b;
        *width = 1;
        return;
    }
    unsigned shift = b / SUB_COUNT - 1;
    uint64_t sub = b % SUB_COUNT + SUB_COUNT;
    *low = sub << shift;
    *width = (uint64_t)1 << shift;
}

km_hist *km_hist_create(void)
{
    km_hist *h = calloc(1, sizeof *h);
    if (!h) {
        km_seterr(KM_ENOMEM, "km_hist_create: out of memory");
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    h->min = UINT64_MAX;
    return h;
}

void km_hist_record(km_hist *h, uint64_t ns)
{
    unsigned b = bucket_of(ns);
    pthread_mutex_lock(&h->lock);
    h->buckets[b]++;
    h->count++;
    h->sum += (long double)ns;
    if (ns < h->min)
        h->min = ns;
    if (ns > h->max)
        h->max = ns;
    pthread_mutex_unlock(&h->lock);
}

uint64_t km_hist_count(km_hist *h)
{
    pthread_mutex_lock(&h->lock);
    uint64_t n = h->count;
    pthread_mutex_unlock(&h->lock);
    return n;
}

double km_hist_mean(km_hist *h)
{
    pthread_mutex_lock(&h->lock);
    double m = h->count ? (double)(h->sum / (long double)h->count) : 0.0;
    pthread_mutex_unlock(&h->lock);
    return m;
}

/* The middle of bucket b, clamped to the recorded [min, max] so the
 * extremes come out exact. Lock held. */
static uint64_t bucket_value_locked(const km_hist *h, unsigned b)
{
    uint64_t low, width;
    bucket_range(b, &low, &width);
    uint64_t v = low + (width - 1) / 2;
    if (v < h->min)
        v = h->min;
    if (v > h->max)
        v = h->max;
    return v;
}

uint64_t km_hist_quantile(km_hist *h, double q)
{
    if (!(q >= 0.0))
        q = 0.0; /* also catches NaN */
    if (q > 1.0)
        q = 1.0;
    pthread_mutex_lock(&h->lock);
    uint64_t result = 0;
    if (h->count > 0) {
        /* rank = ceil(q * count), at least 1: the sorted element the
         * quantile names, counting from 1. The tiny slack keeps q = 0.01
         * of 100 values at rank 1 despite binary rounding. */
        double want = q * (double)h->count - 1e-9;
        uint64_t rank = want > 0 ? (uint64_t)ceil(want) : 1;
        if (rank < 1)
            rank = 1;
        if (rank > h->count)
            rank = h->count;
        uint64_t seen = 0;
        for (unsigned b = 0; b < BUCKETS; b++) {
            seen += h->buckets[b];
            if (seen >= rank) {
                result = rank == 1          ? h->min /* extremes are exact */
                         : rank == h->count ? h->max
                                            : bucket_value_locked(h, b);
                break;
            }
        }
    }
    pthread_mutex_unlock(&h->lock);
    return result;
}

void km_hist_reset(km_hist *h)
{
    pthread_mutex_lock(&h->lock);
    memset(h->buckets, 0, sizeof h->buckets);
    h->count = 0;
    h->sum = 0;
    h->min = UINT64_MAX;
    h->max = 0;
    pthread_mutex_unlock(&h->lock);
}

void km_hist_destroy(km_hist *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->lock);
    free(h);
}
