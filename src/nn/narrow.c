/*
 * narrow.c - stride-1 convolutions on 1-16 channel tensors, and wide
 * 3x3/5x5 depthwise convolutions (see narrow.h).
 *
 * Each input row is copied once into a ring of fp32 rows with the
 * left/right zero padding in place (bf16 widened there), so every output
 * vector is taps x FMAs with no bounds checks. Depthwise: an output row is
 * the same flat layout as the input row, 8 vectors per block for
 * independent FMA chains. One output channel: the C lanes of each pixel
 * are summed in registers, C vectors (16 pixels) at a time, by a tree of
 * lane-pair sums. Wide depthwise: one 16-channel block at a time in its
 * own ring of fp32 rows, 8 output pixels per register block.
 */
#include "nn/narrow.h"

#include <stdint.h>
#include <string.h>

#include "nn/bf16.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#define HAVE_AVX512 1
#endif

/* Zeroed floats after each ring row: a row's last vector (two for
 * pointwise) may run past its padding. */
#define SLACK 32

static int span_rows(const nn_narrow *d)
{
    return (d->kh - 1) * d->dh + 1;
}

static int padded_w(const nn_narrow *d)
{
    int need = d->ow + (d->kw - 1) * d->dw;
    return need > d->pl + d->w ? need : d->pl + d->w;
}

static int divides16(int n)
{
    return n == 1 || n == 2 || n == 4 || n == 8 || n == 16;
}

int nn_narrow_vectorized(void)
{
#ifdef HAVE_AVX512
    return 1;
#else
    return 0;
#endif
}

int nn_narrow_fits(int c, int co, int kh, int kw, int dh)
{
    if (!divides16(c) || kh < 1 || kw < 1 || dh < 1 || (kh - 1) * dh + 1 > NN_NARROW_MAX_SPAN)
        return 0;
    if (co <= 1) /* depthwise, or one output channel */
        return 1;
    /* pointwise: an output vector's pixels read at most 32 input floats */
    return kh == 1 && kw == 1 && divides16(co) && 16 / co * c <= 32;
}

int nn_narrow_wide_fits(int c, int kh, int kw, int dh, int dw, int stride)
{
    /* 3x3 at stride 2 widens 4 input pixels per output's 9 FMAs and lost
     * to oneDNN (BlazePose full's 128x128x64 layer 0.24 vs 0.13 ms) */
    return c > 16 && kh == kw && (kh == 3 || kh == 5) && dh == 1 && dw == 1 &&
           (stride == 1 || (stride == 2 && kh == 5));
}

/* Wide kind: a ring row is one channel block, 16 floats per pixel, wide
 * enough for the input of every block of 8 output pixels (on rows under 8
 * pixels too). */
static size_t wide_rowlen(const nn_narrow *d)
{
    int ow = d->ow > 8 ? d->ow : 8, px = (ow - 1) * d->stride + d->kw;
    return (size_t)(px > d->pl + d->w ? px : d->pl + d->w) * 16 + SLACK;
}

size_t nn_narrow_workspace(const nn_narrow *d)
{
    if (d->kind == NN_NARROW_DW_WIDE) /* kh ring rows and one row of zeros */
        return (size_t)(d->kh + 1) * wide_rowlen(d) * sizeof(float);
    return (size_t)span_rows(d) * ((size_t)padded_w(d) * (size_t)d->c + SLACK) * sizeof(float);
}

/* Input row iy into ring slot dst: zeros, the row as fp32, zeros. */
static void fill_row(const nn_narrow *d, const void *x, int iy, float *dst)
{
    size_t c = (size_t)d->c, left = (size_t)d->pl * c, n = (size_t)d->w * c;
    size_t len = (size_t)padded_w(d) * c + SLACK;
    memset(dst, 0, left * sizeof(float));
    if (d->in_bf16)
        nn_bf16_to_f32_n((const uint16_t *)x + (size_t)iy * n, dst + left, n);
    else
        memcpy(dst + left, (const float *)x + (size_t)iy * n, n * sizeof(float));
    memset(dst + left + n, 0, (len - left - n) * sizeof(float));
}

static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Post-op chain of one output value (flat index i) and its store:
 * clamp, then optionally + addend[i] and the second clamp. */
static void emit1(const nn_narrow *d, void *y, const void *add, size_t i, float v)
{
    v = clampf(v, d->lo, d->hi);
    if (add) {
        v += d->add_bf16 ? nn_bf16_to_f32(((const uint16_t *)add)[i]) : ((const float *)add)[i];
        v = clampf(v, d->lo2, d->hi2);
    }
    if (d->out_bf16)
        ((uint16_t *)y)[i] = nn_f32_to_bf16(v);
    else
        ((float *)y)[i] = v;
}

#ifdef HAVE_AVX512
static inline __attribute__((always_inline)) __m512 clamp16(__m512 v, float lo, float hi)
{
    return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(lo)), _mm512_set1_ps(hi));
}

/* emit1 for 16 values from flat index i, lanes under mask m. */
static inline __attribute__((always_inline)) void emit16(const nn_narrow *d, void *y, const void *add, size_t i,
                                                         __m512 v, __mmask16 m)
{
    v = clamp16(v, d->lo, d->hi);
    if (add) {
        __m512 a;
        if (d->add_bf16) {
            a = nn_bf16_to_f32_16(m, (const uint16_t *)add + i);
        } else {
            a = _mm512_maskz_loadu_ps(m, (const float *)add + i);
        }
        v = clamp16(_mm512_add_ps(v, a), d->lo2, d->hi2);
    }
    if (d->out_bf16) {
        _mm256_mask_storeu_epi16((uint16_t *)y + i, m, nn_f32_to_bf16_16(v));
    } else {
        _mm512_mask_storeu_ps((float *)y + i, m, v);
    }
}

static inline __mmask16 tail_mask(size_t left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
}

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
                                                          int ky1, int ox, void *y, const void *add, size_t at,
                                                          const int c)
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
    emit16(d, y, add, at + (size_t)ox, _mm512_add_ps(acc[0], _mm512_loadu_ps(d->brep)), 0xffff);
}

static void out_16(const nn_narrow *d, const float *const *rows, int ky0, int ky1, int ox, void *y, const void *add,
                   size_t at)
{
    switch (d->c) {
    case 1: out_16c(d, rows, ky0, ky1, ox, y, add, at, 1); break;
    case 2: out_16c(d, rows, ky0, ky1, ox, y, add, at, 2); break;
    case 4: out_16c(d, rows, ky0, ky1, ox, y, add, at, 4); break;
    case 8: out_16c(d, rows, ky0, ky1, ox, y, add, at, 8); break;
    default: out_16c(d, rows, ky0, ky1, ox, y, add, at, 16); break;
    }
}
#endif

/* One output row of the one-output-channel kind from the ring rows of
 * taps ky0..ky1 (rows[ky]). */
static void one_out_row(const nn_narrow *d, const float *const *rows, int ky0, int ky1, void *y, const void *add,
                        size_t at)
{
    int c = d->c, ox = 0;
#ifdef HAVE_AVX512
    for (; ox + 16 <= d->ow; ox += 16)
        out_16(d, rows, ky0, ky1, ox, y, add, at);
#endif
    for (; ox < d->ow; ox++) { /* tail pixels (all of them without AVX-512) */
        float v = 0.0f;
        for (int ky = ky0; ky < ky1; ky++)
            for (int kx = 0; kx < d->kw; kx++)
                for (int ch = 0; ch < c; ch++)
                    v += rows[ky][(size_t)(ox + kx * d->dw) * (size_t)c + (size_t)ch] *
                         d->wrep[(size_t)(ky * d->kw + kx) * 16 + (size_t)ch];
        emit1(d, y, add, at + (size_t)ox, v + d->brep[0]);
    }
}

#ifdef HAVE_AVX512
/* nv (1..8, a constant where inlined) output vectors from flat index f. */
static inline __attribute__((always_inline)) void dw_vectors(const nn_narrow *d, const float *const *rows, int ky0,
                                                             int ky1, size_t f, int nv, size_t n, void *y,
                                                             const void *add, size_t at)
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
    for (int v = 0; v < nv; v++)
        emit16(d, y, add, at + f + (size_t)v * 16, acc[v], tail_mask(n - (f + (size_t)v * 16)));
}
#endif

/* One output row of the depthwise kind: the same flat layout as an input
 * row, ow * c values. */
static void dw_row(const nn_narrow *d, const float *const *rows, int ky0, int ky1, void *y, const void *add,
                   size_t at)
{
    size_t n = (size_t)d->ow * (size_t)d->c, f = 0;
#ifdef HAVE_AVX512
    for (; f + 128 <= n; f += 128)
        dw_vectors(d, rows, ky0, ky1, f, 8, n, y, add, at);
    for (; f < n; f += 16)
        dw_vectors(d, rows, ky0, ky1, f, 1, n, y, add, at);
#endif
    for (; f < n; f++) { /* without AVX-512 */
        float v = d->brep[f % 16];
        for (int ky = ky0; ky < ky1; ky++)
            for (int kx = 0; kx < d->kw; kx++)
                v += rows[ky][f + (size_t)kx * (size_t)d->dw * (size_t)d->c] *
                     d->wrep[(size_t)(ky * d->kw + kx) * 16 + f % (size_t)d->c];
        emit1(d, y, add, at + f, v);
    }
}

#ifdef HAVE_AVX512
/* nv (1..4, a constant where inlined) pointwise output vectors from flat
 * output index f: lane l of output vector k is channel l % co of pixel
 * (f + 16k + l) / co, i.e. input floats from base[l] = (l / co) * c on. */
static inline __attribute__((always_inline)) void pw_vectors(const nn_narrow *d, const float *row, __m512i base,
                                                             size_t f, int nv, size_t n, void *y, const void *add,
                                                             size_t at)
{
    int c = d->c, co = d->co;
    __m512 lo[4], hi[4], acc[4];
#pragma GCC unroll 4
    for (int k = 0; k < nv; k++) {
        const float *xp = row + (f + (size_t)k * 16) / (size_t)co * (size_t)c;
        lo[k] = _mm512_loadu_ps(xp);
        hi[k] = _mm512_loadu_ps(xp + 16);
        acc[k] = _mm512_loadu_ps(d->brep);
    }
    for (int ci = 0; ci < c; ci++) {
        __m512i idx = _mm512_add_epi32(base, _mm512_set1_epi32(ci));
        __m512 w = _mm512_loadu_ps(d->wrep + (size_t)ci * 16);
#pragma GCC unroll 4
        for (int k = 0; k < nv; k++)
            acc[k] = _mm512_fmadd_ps(_mm512_permutex2var_ps(lo[k], idx, hi[k]), w, acc[k]);
    }
#pragma GCC unroll 4
    for (int k = 0; k < nv; k++)
        emit16(d, y, add, at + f + (size_t)k * 16, acc[k], tail_mask(n - (f + (size_t)k * 16)));
}
#endif

/* One output row of the pointwise kind (row: the input row as fp32). */
static void pw_row(const nn_narrow *d, const float *row, void *y, const void *add, size_t at)
{
    size_t n = (size_t)d->ow * (size_t)d->co, f = 0;
#ifdef HAVE_AVX512
    int b[16];
    for (int l = 0; l < 16; l++)
        b[l] = l / d->co * d->c;
    __m512i base = _mm512_loadu_si512(b);
    for (; f + 64 <= n; f += 64)
        pw_vectors(d, row, base, f, 4, n, y, add, at);
    for (; f < n; f += 16)
        pw_vectors(d, row, base, f, 1, n, y, add, at);
#endif
    for (; f < n; f++) { /* without AVX-512 */
        size_t px = f / (size_t)d->co;
        float v = d->brep[f % 16];
        for (int ci = 0; ci < d->c; ci++)
            v += row[px * (size_t)d->c + (size_t)ci] * d->wrep[(size_t)ci * 16 + f % 16];
        emit1(d, y, add, at + f, v);
    }
}

/* ------------------------------------------------------ wide depthwise */

/* Input bytes per band of output rows: the band's input stays in L2 (2 MB
 * per core here) while its channel blocks pass over it. */
#define WIDE_BAND_BYTES (256 * 1024)

static size_t wide_cp(const nn_narrow *d)
{
    return ((size_t)d->c + 15) / 16 * 16;
}

/* Channels c0..c0+15 of input row iy into ring row dst: zeros, the
 * pixels as fp32 (missing channels zero), zeros. */
static void fill_block(const nn_narrow *d, const void *x, int iy, int c0, float *dst)
{
    size_t left = (size_t)d->pl, n = (size_t)d->w, c = (size_t)d->c;
    size_t at = (size_t)iy * n * c + (size_t)c0;
    int nc = d->c - c0 < 16 ? d->c - c0 : 16;
    memset(dst, 0, left * 16 * sizeof(float));
    memset(dst + (left + n) * 16, 0, (wide_rowlen(d) - (left + n) * 16) * sizeof(float));
    float *o = dst + left * 16;
#ifdef HAVE_AVX512
    __mmask16 m = tail_mask((size_t)nc);
    if (d->in_bf16) {
        const uint16_t *p = (const uint16_t *)x + at;
        for (size_t px = 0; px < n; px++, p += c)
            _mm512_storeu_ps(o + px * 16, nn_bf16_to_f32_16(m, p));
    } else {
        const float *p = (const float *)x + at;
        for (size_t px = 0; px < n; px++, p += c)
            _mm512_storeu_ps(o + px * 16, _mm512_maskz_loadu_ps(m, p));
    }
#else
    for (size_t px = 0; px < n; px++)
        for (int l = 0; l < 16; l++) {
            size_t i = at + px * c + (size_t)l;
            o[px * 16 + (size_t)l] = l >= nc ? 0.0f
                                     : d->in_bf16 ? nn_bf16_to_f32(((const uint16_t *)x)[i])
                                                  : ((const float *)x)[i];
        }
#endif
}

#ifdef HAVE_AVX512
/* 8 output pixels from ox, one channel block, k x k taps at stride s (k,
 * s constants where inlined): each input vector is loaded once per kernel
 * row and feeds every accumulator whose window covers it. w: the block's weights,
 * tap t at w + t * cp. */
static inline __attribute__((always_inline)) void wide_8(const float *const *rows, const float *w, size_t cp, int ox,
                                                         const int k, const int s, __m512 b, __m512 *out)
{
    __m512 acc[8], wk[5];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        acc[i] = b;
#pragma GCC unroll 5
    for (int ky = 0; ky < k; ky++) {
        const float *r = rows[ky] + (size_t)(ox * s) * 16;
#pragma GCC unroll 5
        for (int kx = 0; kx < k; kx++)
            wk[kx] = _mm512_loadu_ps(w + (size_t)(ky * k + kx) * cp);
#pragma GCC unroll 19
        for (int j = 0; j < 7 * s + k; j++) { /* input pixel j feeds output (j - kx) / s */
            __m512 v = _mm512_loadu_ps(r + (size_t)j * 16);
#pragma GCC unroll 5
            for (int kx = 0; kx < k; kx++)
                if (j - kx >= 0 && (j - kx) % s == 0 && (j - kx) / s < 8)
                    acc[(j - kx) / s] = _mm512_fmadd_ps(v, wk[kx], acc[(j - kx) / s]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        out[i] = acc[i];
}
#endif

/* One output row of channel block c0; at: flat index of (row, pixel 0, c0). */
static void wide_row(const nn_narrow *d, const float *const *rows, int c0, void *y, const void *add, size_t at)
{
    size_t cp = wide_cp(d), c = (size_t)d->c;
    const float *w = d->wrep + c0;
    int k = d->kh, ox = 0;
#ifdef HAVE_AVX512
    __mmask16 m = tail_mask(c - (size_t)c0);
    __m512 b = _mm512_loadu_ps(d->brep + c0), acc[8];
    for (; ox < d->ow; ox += 8) {
        /* the last block of a row of 8 or more ends at its end (and
         * overlaps the one before); rows under 8 compute into the padding */
        int b0 = ox + 8 <= d->ow || d->ow < 8 ? ox : d->ow - 8;
        int end = ox + 8 < d->ow ? ox + 8 : d->ow;
        if (d->stride == 1 && k == 3)
            wide_8(rows, w, cp, b0, 3, 1, b, acc);
        else if (d->stride == 1)
            wide_8(rows, w, cp, b0, 5, 1, b, acc);
        else if (k == 3)
            wide_8(rows, w, cp, b0, 3, 2, b, acc);
        else
            wide_8(rows, w, cp, b0, 5, 2, b, acc);
        for (int i = ox; i < end; i++)
            emit16(d, y, add, at + (size_t)i * c, acc[i - b0], m);
    }
#else
    int nc = d->c - c0 < 16 ? d->c - c0 : 16;
    for (; ox < d->ow; ox++)
        for (int l = 0; l < nc; l++) {
            float v = d->brep[c0 + l];
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++)
                    v += rows[ky][(size_t)(ox * d->stride + kx) * 16 + (size_t)l] *
                         w[(size_t)(ky * k + kx) * cp + (size_t)l];
            emit1(d, y, add, at + (size_t)ox * c + (size_t)l, v);
        }
#endif
}

static void wide_run(const nn_narrow *d, const void *x, const void *add, void *y, float *ws)
{
    size_t rowlen = wide_rowlen(d);
    size_t rowbytes = (size_t)d->w * (size_t)d->c * (d->in_bf16 ? 2 : 4) * (size_t)d->stride; /* per output row */
    float *zero = ws + (size_t)d->kh * rowlen;
    memset(zero, 0, rowlen * sizeof(float));
    int band = rowbytes * 4 < WIDE_BAND_BYTES ? (int)(WIDE_BAND_BYTES / rowbytes) : 4;
    for (int oy0 = 0; oy0 < d->oh; oy0 += band) {
        int oy1 = oy0 + band < d->oh ? oy0 + band : d->oh;
        for (int c0 = 0; c0 < d->c; c0 += 16) {
            int have[NN_NARROW_MAX_SPAN];
            for (int i = 0; i < d->kh; i++)
                have[i] = -1;
            for (int oy = oy0; oy < oy1; oy++) {
                const float *rows[NN_NARROW_MAX_SPAN];
                for (int ky = 0; ky < d->kh; ky++) {
                    int iy = oy * d->stride - d->pt + ky;
                    if (iy < 0 || iy >= d->h) {
                        rows[ky] = zero;
                        continue;
                    }
                    int slot = iy % d->kh;
                    if (have[slot] != iy) {
                        fill_block(d, x, iy, c0, ws + (size_t)slot * rowlen);
                        have[slot] = iy;
                    }
                    rows[ky] = ws + (size_t)slot * rowlen;
                }
                wide_row(d, rows, c0, y, add, (size_t)oy * (size_t)d->ow * (size_t)d->c + (size_t)c0);
            }
        }
    }
}

void nn_narrow_run(const nn_narrow *d, const void *x, const void *add, void *y, void *ws)
{
    if (d->kind == NN_NARROW_DW_WIDE) {
        wide_run(d, x, add, y, ws);
        return;
    }
    int span = span_rows(d), have[NN_NARROW_MAX_SPAN];
    size_t rowlen = (size_t)padded_w(d) * (size_t)d->c + SLACK;
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
        size_t at = (size_t)oy * (size_t)d->ow * (size_t)d->co;
        if (d->kind == NN_NARROW_DEPTHWISE)
            dw_row(d, rows, ky0, ky1, y, add, at);
        else if (d->kind == NN_NARROW_POINTWISE)
            pw_row(d, rows[0], y, add, at);
        else
            one_out_row(d, rows, ky0, ky1, y, add, at);
    }
}
