/*
 * bf16.c - bulk bfloat16 conversions (see bf16.h), 16 lanes at a time
 * with AVX-512 where the build targets it.
 */
#include "nn/bf16.h"

#if defined(__AVX512F__) && defined(__AVX512BW__)
#define HAVE_AVX512 1
#endif

void nn_f32_to_bf16_n(const float *x, uint16_t *y, size_t n)
{
    size_t i = 0;
#ifdef HAVE_AVX512
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(y + i), nn_f32_to_bf16_16(_mm512_loadu_ps(x + i)));
#endif
    for (; i < n; i++)
        y[i] = nn_f32_to_bf16(x[i]);
}

void nn_bf16_to_f32_n(const uint16_t *x, float *y, size_t n)
{
    size_t i = 0;
#ifdef HAVE_AVX512
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, nn_bf16_to_f32_16(0xffff, x + i));
#endif
    for (; i < n; i++)
        y[i] = nn_bf16_to_f32(x[i]);
}
