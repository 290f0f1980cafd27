/*
 * bf16.h - bfloat16 <-> float conversions.
 *
 * Why: bf16 activations are the top 16 bits of an fp32; widening is a
 * shift, narrowing rounds to nearest-even and flushes denormals to signed
 * zero (what VCVTNEPS2BF16, and so oneDNN and AMX code, does), so a tensor
 * converted by kinema's own kernels equals one converted by oneDNN's
 * reorders. NaN stays NaN (quiet bit set).
 */
#ifndef KM_NN_BF16_H
#define KM_NN_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline float nn_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

static inline uint16_t nn_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    if ((u & 0x7f800000u) == 0)
        return (uint16_t)((u >> 16) & 0x8000u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
/* 16 floats to bf16 in one vector, rounded as nn_f32_to_bf16. */
static inline __m256i nn_f32_to_bf16_16(__m512 v)
{
#ifdef __AVX512BF16__
    return (__m256i)_mm512_cvtneps_pbh(v);
#else
    const __m512i one = _mm512_set1_epi32(1), half = _mm512_set1_epi32(0x7fff), quiet = _mm512_set1_epi32(0x400000);
    __m512i u = _mm512_castps_si512(v);
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(half, _mm512_and_si512(_mm512_srli_epi32(u, 16), one)));
    r = _mm512_mask_or_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), u, quiet); /* NaN: quieted, not rounded */
    const __m512i expo = _mm512_set1_epi32(0x7f800000), sign = _mm512_set1_epi32((int)0x80000000u);
    r = _mm512_mask_and_epi32(r, _mm512_testn_epi32_mask(u, expo), u, sign); /* denormal: signed zero */
    return _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16));
#endif
}

/* 16 bf16 (lanes under m, others zero) widened to floats. */
static inline __m512 nn_bf16_to_f32_16(__mmask16 m, const uint16_t *p)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}
#endif

/* Bulk conversions of n elements (AVX-512 when compiled for it). */
void nn_f32_to_bf16_n(const float *x, uint16_t *y, size_t n);
void nn_bf16_to_f32_n(const uint16_t *x, float *y, size_t n);

#endif
