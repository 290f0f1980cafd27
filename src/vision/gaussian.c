/*
 * gaussian.c - separable Gaussian blur on 8-bit images, bit-exact with
 * OpenCV 4's fixed-point path (GaussianBlurFixedPoint).
 *
 * Why fixed point: OpenCV quantises the kernel to 8 fractional bits (with
 * error diffusion so the taps sum to exactly 256), sums the horizontal pass
 * in 16 bits and the vertical pass in 32 bits (16 fractional bits) and
 * rounds half up. Doing the same gives identical pixels and is also the
 * fastest formulation: 16-bit lanes for the horizontal pass, 32-bit lanes
 * for the vertical one. Rows are processed through a ring of ksize
 * horizontally filtered rows, so each band of rows touches only a few KiB.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#pragma GCC target("prefer-vector-width=512")
#endif
#include <math.h>

#include "vision/vision_priv.h"

#define GAUSS_MAX_K 1025

/* OpenCV's getGaussianKernel in double precision (binomial tables for small
 * sizes when sigma <= 0). */
static void gaussian_kernel_double(int n, double sigma, double *k)
{
    static const double t3[] = {0.25, 0.5, 0.25};
    static const double t5[] = {0.0625, 0.25, 0.375, 0.25, 0.0625};
    static const double t7[] = {0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125};
    static const double t9[] = {4 / 256.0,  13 / 256.0, 30 / 256.0, 51 / 256.0, 60 / 256.0,
                                51 / 256.0, 30 / 256.0, 13 / 256.0, 4 / 256.0};
    if (sigma <= 0) {
        const double *t = n == 1 ? NULL : n == 3 ? t3 : n == 5 ? t5 : n == 7 ? t7 : n == 9 ? t9 : NULL;
        if (n == 1) {
            k[0] = 1.0;
            return;
        }
        if (t) {
            memcpy(k, t, (size_t)n * sizeof *k);
            return;
        }
    }
    double sx = sigma > 0 ? sigma : n * 0.15 + 0.35;
    double scale2x = -0.125 / (sx * sx);
    int h = (n - 1) / 2;
    double sum = 0;
    for (int i = 0, x = 1 - n; i < h; i++, x += 2) {
        k[i] = exp((double)(x * x) * scale2x);
        sum += k[i];
    }
    sum = sum * 2 + 1;
    double mul = 1.0 / sum;
    for (int i = 0; i < h; i++)
        k[n - 1 - i] = k[i] = k[i] * mul;
    k[h] = mul;
}

/* Quantise to 8 fractional bits with error diffusion; centre takes the
 * remainder so the taps sum to 256. */
static void gaussian_kernel_fixed(int n, const double *k, uint16_t *q)
{
    double err = 0;
    int64_t sum = 0;
    int h = n / 2;
    for (int i = 0; i < h; i++) {
        double adj = k[i] * 256.0 + err;
        int64_t v = (int64_t)nearbyint(adj);
        err = adj - (double)v;
        q[i] = q[n - 1 - i] = (uint16_t)v;
        sum += v;
    }
    q[h] = (uint16_t)(256 - 2 * sum);
}

typedef struct {
    const km_image *src;
    km_image *dst;
    int k;            /* taps */
    const uint16_t *q;
    int small_shift;  /* > 0: taps pre-divided by 2^s, vertical pass in
                         16 bits, result (V + half) >> small_shift */
    int failed;       /* set by a band that could not allocate */
} gauss_job;

/* Horizontal pass of one padded row with k taps (k a constant after
 * inlining, so the tap loop unrolls and each output is written once). */
static inline __attribute__((always_inline)) void hline_k(const uint8_t *restrict pad, int cn, int n,
                                                          const uint16_t *q, int k,
                                                          uint16_t *restrict out)
{
    int r = k / 2;
    uint16_t t[GAUSS_MAX_K];
    for (int i = 0; i <= r; i++)
        t[i] = q[i];
    for (int x = 0; x < n; x++) {
        uint16_t acc = (uint16_t)(t[r] * pad[x + r * cn]);
        for (int i = 0; i < r; i++)
            acc = (uint16_t)(acc + t[i] * (uint16_t)(pad[x + i * cn] + pad[x + (k - 1 - i) * cn]));
        out[x] = acc;
    }
}

/* Horizontal pass of one source row into 16-bit fixed point (8 frac bits). */
static void gauss_hline(const gauss_job *j, int sy, uint8_t *restrict pad, uint16_t *restrict out)
{
    int cn = j->src->channels, w = j->src->width, r = j->k / 2, n = w * cn;
    vis_pad_row_u8(km_image_row(j->src, sy), w, cn, r, 0, pad);
    const uint16_t *q = j->q;
    /* constant taps and channel count give straight-line vector code */
#define HLINE_CASES(CN)                                                                            \
    switch (j->k) {                                                                                \
    case 3: hline_k(pad, CN, n, q, 3, out); return;                                                \
    case 5: hline_k(pad, CN, n, q, 5, out); return;                                                \
    case 7: hline_k(pad, CN, n, q, 7, out); return;                                                \
    case 9: hline_k(pad, CN, n, q, 9, out); return;                                                \
    case 11: hline_k(pad, CN, n, q, 11, out); return;                                              \
    case 13: hline_k(pad, CN, n, q, 13, out); return;                                              \
    case 15: hline_k(pad, CN, n, q, 15, out); return;                                              \
    default: break;                                                                                \
    }
    if (cn == 1) {
        HLINE_CASES(1)
    } else {
        HLINE_CASES(3)
    }
#undef HLINE_CASES
    uint16_t c = q[r];
    const uint8_t *restrict mid = pad + (size_t)r * cn;
    for (int x = 0; x < n; x++)
        out[x] = (uint16_t)(c * mid[x]);
    for (int i = 0; i < r; i++) {
        uint16_t t = q[i];
        const uint8_t *restrict a = pad + (size_t)i * cn;
        const uint8_t *restrict b = pad + (size_t)(j->k - 1 - i) * cn;
        for (int x = 0; x < n; x++)
            out[x] = (uint16_t)(out[x] + t * (uint16_t)(a[x] + b[x]));
    }
}

/* Vertical pass with k rows, k constant after inlining. */
static inline __attribute__((always_inline)) void vline_k(const uint16_t *const *rows, const uint16_t *q,
                                                          int k, uint8_t *restrict d, int n)
{
    int r = k / 2;
    const uint16_t *rw[GAUSS_MAX_K];
    uint32_t t[GAUSS_MAX_K];
    for (int i = 0; i < k; i++)
        rw[i] = rows[i];
    for (int i = 0; i <= r; i++)
        t[i] = q[i];
    for (int x = 0; x < n; x++) {
        uint32_t acc = t[r] * rw[r][x];
        for (int i = 0; i < r; i++)
            acc += t[i] * ((uint32_t)rw[i][x] + rw[k - 1 - i][x]);
        d[x] = (uint8_t)((acc + 32768u) >> 16);
    }
}

/* Vertical pass in 16 bits for kernels whose taps are small integers
 * (binomial 3 and 5): exact because the full 2-D sum stays below 2^16. */
static inline __attribute__((always_inline)) void vline_small_k(const uint16_t *const *rows,
                                                                const uint16_t *q, int k, int shift,
                                                                uint8_t *restrict d, int n)
{
    int r = k / 2;
    const uint16_t *rw[GAUSS_MAX_K];
    uint16_t t[GAUSS_MAX_K];
    for (int i = 0; i < k; i++)
        rw[i] = rows[i];
    for (int i = 0; i <= r; i++)
        t[i] = q[i];
    uint16_t half = (uint16_t)(1u << (shift - 1));
    for (int x = 0; x < n; x++) {
        uint16_t acc = (uint16_t)(t[r] * rw[r][x]);
        for (int i = 0; i < r; i++)
            acc = (uint16_t)(acc + t[i] * (uint16_t)(rw[i][x] + rw[k - 1 - i][x]));
        d[x] = (uint8_t)((uint16_t)(acc + half) >> shift);
    }
}

/* Vertical pass: rows[i] are the K horizontally filtered rows around y. */
static void gauss_vline(const gauss_job *j, const uint16_t *const *rows, uint8_t *restrict d, int n)
{
    int r = j->k / 2;
    const uint16_t *q = j->q;
    if (j->small_shift) {
        if (j->k == 5)
            vline_small_k(rows, q, 5, j->small_shift, d, n);
        else
            vline_small_k(rows, q, 3, j->small_shift, d, n);
        return;
    }
    switch (j->k) {
    case 3: vline_k(rows, q, 3, d, n); return;
    case 5: vline_k(rows, q, 5, d, n); return;
    case 7: vline_k(rows, q, 7, d, n); return;
    case 9: vline_k(rows, q, 9, d, n); return;
    case 11: vline_k(rows, q, 11, d, n); return;
    case 13: vline_k(rows, q, 13, d, n); return;
    case 15: vline_k(rows, q, 15, d, n); return;
    default: break;
    }
    const uint16_t *restrict m = rows[r];
    uint32_t c = q[r];
    for (int x0 = 0; x0 < n; x0 += 256) {
        uint32_t acc[256];
        int len = n - x0 < 256 ? n - x0 : 256;
        for (int x = 0; x < len; x++)
            acc[x] = c * m[x0 + x];
        for (int i = 0; i < r; i++) {
            uint32_t t = q[i];
            const uint16_t *restrict a = rows[i] + x0;
            const uint16_t *restrict b = rows[j->k - 1 - i] + x0;
            for (int x = 0; x < len; x++)
                acc[x] += t * ((uint32_t)a[x] + b[x]);
        }
        for (int x = 0; x < len; x++)
            d[x0 + x] = (uint8_t)((acc[x] + 32768u) >> 16);
    }
}

static void gauss_rows(void *arg, int y0, int y1)
{
    const gauss_job *j = arg;
    int k = j->k, r = k / 2, h = j->src->height;
    int n = j->src->width * j->src->channels;
    size_t rowlen = ((size_t)n + 31) & ~(size_t)31;
    uint16_t *ring = vis_alloc(rowlen * (size_t)k, sizeof(uint16_t));
    uint8_t *pad = vis_alloc((size_t)(j->src->width + 2 * r) * j->src->channels + 64, 1);
    const uint16_t **rows = malloc((size_t)k * sizeof *rows);
    if (!ring || !pad || !rows) {
        vis_mark_failed(&j->failed);
        goto out;
    }
    /* ring slot of source row index (y + i - r), indexed modulo k */
    for (int i = 0; i < k - 1; i++) {
        int yy = y0 - r + i;
        gauss_hline(j, km_reflect101(yy, h), pad, ring + (size_t)(((yy % k) + k) % k) * rowlen);
    }
    for (int y = y0; y < y1; y++) {
        int yn = y + r;
        gauss_hline(j, km_reflect101(yn, h), pad, ring + (size_t)(((yn % k) + k) % k) * rowlen);
        for (int i = 0; i < k; i++) {
            int yy = y - r + i;
            rows[i] = ring + (size_t)(((yy % k) + k) % k) * rowlen;
        }
        gauss_vline(j, rows, km_image_row(j->dst, y), n);
    }
out:
    free(ring);
    free(pad);
    free(rows);
}

int km_gaussian_blur(const km_image *src, km_image *dst, int ksize, double sigma, km_pool *pool)
{
    int rc = vis_check_pair(src, dst, "gaussian");
    if (rc)
        return rc;
    if (!(sigma == sigma) || sigma > 1000)
        return km_seterr(KM_EINVAL, "gaussian: sigma %g outside 0..1000", sigma);
    if (ksize <= 0 && sigma > 0)
        ksize = (int)lrint(sigma * 6 + 1) | 1;
    if (ksize <= 0 || ksize % 2 == 0 || ksize > GAUSS_MAX_K)
        return km_seterr(KM_EINVAL, "gaussian: ksize %d must be odd in 1..%d (or 0 with sigma > 0)",
                         ksize, GAUSS_MAX_K);
    if (ksize == 1) {
        if (dst != src)
            for (int y = 0; y < src->height; y++)
                memcpy(km_image_row(dst, y), km_image_row(src, y), (size_t)src->width * src->channels);
        return 0;
    }
    double kd[GAUSS_MAX_K];
    uint16_t q[GAUSS_MAX_K];
    gaussian_kernel_double(ksize, sigma, kd);
    gaussian_kernel_fixed(ksize, kd, q);
    km_image *copy = NULL;
    if (dst == src || dst->data == src->data) {
        copy = km_image_clone(src);
        if (!copy)
            return KM_ENOMEM;
        src = copy;
    }
    /* binomial-like kernels (all taps multiples of 16) run the vertical pass
     * in 16 bits: taps / 2^s, result (V + 2^(15-2s)) >> (16 - 2s) */
    int tz = 8;
    for (int i = 0; i < ksize; i++) {
        int z = 0;
        while (z < 8 && !(q[i] & (1u << z)))
            z++;
        tz = z < tz ? z : tz;
    }
    int small_shift = 0;
    if (tz >= 4 && (ksize == 3 || ksize == 5)) {
        for (int i = 0; i < ksize; i++)
            q[i] = (uint16_t)(q[i] >> tz);
        small_shift = 16 - 2 * tz;
    }
    gauss_job j = {src, dst, ksize, q, small_shift, 0};
    vis_parallel_rows(pool, src->height, gauss_rows, &j);
    km_image_free(copy);
    return j.failed ? km_seterr(KM_ENOMEM, "gaussian: out of memory for row buffers") : 0;
}
