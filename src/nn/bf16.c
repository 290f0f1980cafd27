/*
 * bf16.c - bulk bfloat16 conversions (see bf16.h), 16 lanes at a time
 * with AVX-512 where the build targets it.
 */
#include "nn/bf16.h"

#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#define HAVE_AVX512 1
#endif

void nn_f32_to_bf16_n(const float *x, uint16_t *y, size_t n)
{
    size_t i = 0;
#ifdef HAVE_AVX512
    const __m512i one = _mm512_set1_epi32(1), half = _mm512_set1_epi32(0x7fff), quiet = _mm512_set1_epi32(0x400000);
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __m512i u = _mm512_castps_si512(v);
        __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(half, _mm512_and_si512(_mm512_srli_epi32(u, 16), one)));
        r = _mm512_mask_or_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), u, quiet); /* NaN: quieted, not rounded */
        _mm256_storeu_si256((__m256i *)(y + i), _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16)));
    }
#endif
    for (; i < n; i++)
        y[i] = nn_f32_to_bf16(x[i]);
}

void nn_bf16_to_f32_n(const uint16_t *x, float *y, size_t n)
{
    size_t i = 0;
#ifdef HAVE_AVX512
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(x + i));
        _mm512_storeu_ps(y + i, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)));
    }
#endif
    for (; i < n; i++)
        y[i] = nn_bf16_to_f32(x[i]);
}
