/*
 * narrow.c - stride-1 convolutions on 1-16 channel tensors (see narrow.h).
 *
 * Each input row is copied once into a ring of fp32 rows with the
 * left/right zero padding in place (bf16 widened there), so every output
 * vector is taps x FMAs with no bounds checks. Depthwise: an output row is
 * the same flat layout as the input row, 8 vectors per block for
 * independent FMA chains. One output channel: the C lanes of each pixel
 * are summed in registers, C vectors (16 pixels) at a time, by a tree of
 * lane-pair sums.
 */
#include "nn/narrow.h"

#include <stdint.h>
#include <string.h>

#include "nn/bf16.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#define HAVE_AVX512 1
#endif

static int span_rows(const nn_narrow *d)
{
    return (d->kh - 1) * d->dh + 1;
}

static int padded_w(const nn_narrow *d)
{
    int need = d->ow + (d->kw - 1) * d->dw;
    return need > d->pl + d->w ? need : d->pl + d->w;
}

int nn_narrow_fits(int c, int kh, int dh)
{
    return (c == 1 || c == 2 || c == 4 || c == 8 || c == 16) && kh >= 1 && dh >= 1 &&
           (kh - 1) * dh + 1 <= NN_NARROW_MAX_SPAN;
}

size_t nn_narrow_workspace(const nn_narrow *d)
{
    /* each ring row has 16 floats of slack: a row's last vector may run
     * past the padding */
    return (size_t)span_rows(d) * ((size_t)padded_w(d) * (size_t)d->c + 16) * sizeof(float);
}

/* Input row iy into ring slot dst: zeros, the row as fp32, zeros. */
static void fill_row(const nn_narrow *d, const void *x, int iy, float *dst)
{
    size_t c = (size_t)d->c, left = (size_t)d->pl * c, n = (size_t)d->w * c;
    size_t len = (size_t)padded_w(d) * c + 16;
    memset(dst, 0, left * sizeof(float));
    if (d->in_bf16)
        nn_bf16_to_f32_n((const uint16_t *)x + (size_t)iy * n, dst + left, n);
    else
        memcpy(dst + left, (const float *)x + (size_t)iy * n, n * sizeof(float));
    memset(dst + left + n, 0, (len - left - n) * sizeof(float));
}

static float clampf(const nn_narrow *d, float v)
{
    return v < d->lo ? d->lo : v > d->hi ? d->hi : v;
}

static void store(const nn_narrow *d, void *y, size_t i, float v)
{
    if (d->out_bf16)
        ((uint16_t *)y)[i] = nn_f32_to_bf16(v);
    else
        ((float *)y)[i] = v;
}

#ifdef HAVE_AVX512
/* Lane i of the result is lanes 2i + 2i+1 of the concatenation (a, b):
 * applied log2(C) times to C vectors of 16/C pixels each, it leaves one
 * vector holding the 16 pixels' sums in order. */
static inline __m512 pair_sums(__m512 a, __m512 b)
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    return _mm512_add_ps(_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b));
}

/* 16 output pixels from ox: C vectors of taps (C independent FMA chains,
 * C a constant where inlined), reduced, clamped, stored. */
static inline __attribute__((always_inline)) void out_16c(const nn_narrow *d, const float *const *rows, int ky0,
                                                          int ky1, int ox, void *y, size_t at, const int c)
{
    __m512 acc[16];
#pragma GCC unroll 16
    for (int v = 0; v < c; v++)
        acc[v] = _mm512_setzero_ps();
    for (int ky = ky0; ky < ky1; ky++) {
        const float *xr = rows[ky] + (size_t)ox * (size_t)c;
        for (int kx = 0; kx < d->kw; kx++) {
            __m512 w = _mm512_loadu_ps(d->wrep + (size_t)(ky * d->kw + kx) * 16);
            const float *xp = xr + (size_t)kx * (size_t)d->dw * (size_t)c;
#pragma GCC unroll 16
            for (int v = 0; v < c; v++)
                acc[v] = _mm512_fmadd_ps(_mm512_loadu_ps(xp + (size_t)v * 16), w, acc[v]);
        }
    }
#pragma GCC unroll 4
    for (int n = c; n > 1; n /= 2)
#pragma GCC unroll 8
        for (int i = 0; i < n / 2; i++)
            acc[i] = pair_sums(acc[2 * i], acc[2 * i + 1]);
    __m512 r = _mm512_add_ps(acc[0], _mm512_loadu_ps(d->brep));
    r = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(d->lo)), _mm512_set1_ps(d->hi));
    if (d->out_bf16) {
        uint16_t h[16];
        float f[16];
        _mm512_storeu_ps(f, r);
        nn_f32_to_bf16_n(f, h, 16);
        memcpy((uint16_t *)y + at + (size_t)ox, h, sizeof(h));
    } else {
        _mm512_storeu_ps((float *)y + at + (size_t)ox, r);
    }
}

static void out_16(const nn_narrow *d, const float *const *rows, int ky0, int ky1, int ox, void *y, size_t at)
{
    switch (d->c) {
    case 1: out_16c(d, rows, ky0, ky1, ox, y, at, 1); break;
    case 2: out_16c(d, rows, ky0, ky1, ox, y, at, 2); break;
    case 4: out_16c(d, rows, ky0, ky1, ox, y, at, 4); break;
    case 8: out_16c(d, rows, ky0, ky1, ox, y, at, 8); break;
    default: out_16c(d, rows, ky0, ky1, ox, y, at, 16); break;
    }
}
#endif

/* One output row of the one-output-channel kind from the ring rows of
 * taps ky0..ky1 (rows[ky]). */
static void one_out_row(const nn_narrow *d, const float *const *rows, int ky0, int ky1, void *y, size_t at)
{
    int c = d->c, ox = 0;
#ifdef HAVE_AVX512
    for (; ox + 16 <= d->ow; ox += 16)
        out_16(d, rows, ky0, ky1, ox, y, at);
#endif
    for (; ox < d->ow; ox++) { /* tail pixels (all of them without AVX-512) */
        float v = 0.0f;
        for (int ky = ky0; ky < ky1; ky++)
            for (int kx = 0; kx < d->kw; kx++)
                for (int ch = 0; ch < c; ch++)
                    v += rows[ky][(size_t)(ox + kx * d->dw) * (size_t)c + (size_t)ch] *
                         d->wrep[(size_t)(ky * d->kw + kx) * 16 + (size_t)ch];
        store(d, y, at + (size_t)ox, clampf(d, v + d->brep[0]));
    }
}

#ifdef HAVE_AVX512
static inline __attribute__((always_inline)) __m512 clamp16(const nn_narrow *d, __m512 v)
{
    return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(d->lo)), _mm512_set1_ps(d->hi));
}

static inline __attribute__((always_inline)) void store16(const nn_narrow *d, void *y, size_t i, __m512 v, __mmask16 m)
{
    if (d->out_bf16) {
        float f[16];
        uint16_t h[16];
        _mm512_storeu_ps(f, v);
        nn_f32_to_bf16_n(f, h, 16);
        _mm256_mask_storeu_epi16((uint16_t *)y + i, m, _mm256_loadu_si256((const __m256i *)h));
    } else {
        _mm512_mask_storeu_ps((float *)y + i, m, v);
    }
}

/* nv (1..8, a constant where inlined) output vectors from flat index f. */
static inline __attribute__((always_inline)) void dw_vectors(const nn_narrow *d, const float *const *rows, int ky0,
                                                             int ky1, size_t f, int nv, size_t n, void *y, size_t at)
{
    __m512 acc[8], b = _mm512_loadu_ps(d->brep);
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++)
        acc[v] = b;
    for (int ky = ky0; ky < ky1; ky++) {
        const float *xr = rows[ky] + f;
        for (int kx = 0; kx < d->kw; kx++) {
            __m512 w = _mm512_loadu_ps(d->wrep + (size_t)(ky * d->kw + kx) * 16);
            const float *xp = xr + (size_t)kx * (size_t)d->dw * (size_t)d->c;
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++)
                acc[v] = _mm512_fmadd_ps(_mm512_loadu_ps(xp + (size_t)v * 16), w, acc[v]);
        }
    }
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) {
        size_t left = n - (f + (size_t)v * 16);
        store16(d, y, at + f + (size_t)v * 16, clamp16(d, acc[v]), left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1u));
    }
}
#endif

/* One output row of the depthwise kind: the same flat layout as an input
 * row, ow * c values. */
static void dw_row(const nn_narrow *d, const float *const *rows, int ky0, int ky1, void *y, size_t at)
{
    size_t n = (size_t)d->ow * (size_t)d->c, f = 0;
#ifdef HAVE_AVX512
    for (; f + 128 <= n; f += 128)
        dw_vectors(d, rows, ky0, ky1, f, 8, n, y, at);
    for (; f < n; f += 16)
        dw_vectors(d, rows, ky0, ky1, f, 1, n, y, at);
#endif
    for (; f < n; f++) { /* without AVX-512 */
        float v = d->brep[f % 16];
        for (int ky = ky0; ky < ky1; ky++)
            for (int kx = 0; kx < d->kw; kx++)
                v += rows[ky][f + (size_t)kx * (size_t)d->dw * (size_t)d->c] *
                     d->wrep[(size_t)(ky * d->kw + kx) * 16 + f % (size_t)d->c];
        store(d, y, at + f, clampf(d, v));
    }
}

void nn_narrow_run(const nn_narrow *d, const void *x, void *y, void *ws)
{
    int span = span_rows(d), have[NN_NARROW_MAX_SPAN];
    size_t rowlen = (size_t)padded_w(d) * (size_t)d->c + 16;
    float *ring = ws;
    for (int i = 0; i < span; i++)
        have[i] = -1;
    for (int oy = 0; oy < d->oh; oy++) {
        const float *rows[NN_NARROW_MAX_SPAN];
        int ky0 = d->kh, ky1 = 0;
        for (int ky = 0; ky < d->kh; ky++) {
            int iy = oy - d->pt + ky * d->dh;
            if (iy < 0 || iy >= d->h)
                continue;
            if (ky < ky0)
                ky0 = ky;
            ky1 = ky + 1;
            int slot = iy % span;
            if (have[slot] != iy) {
                fill_row(d, x, iy, ring + (size_t)slot * rowlen);
                have[slot] = iy;
            }
            rows[ky] = ring + (size_t)slot * rowlen;
        }
        if (d->kind == NN_NARROW_DEPTHWISE)
            dw_row(d, rows, ky0, ky1, y, (size_t)oy * (size_t)d->ow * (size_t)d->c);
        else
            one_out_row(d, rows, ky0, ky1, y, (size_t)oy * (size_t)d->ow);
    }
}
