/*
 * bf16.h - bfloat16 <-> float conversions.
 *
 * Why: bf16 activations are the top 16 bits of an fp32; widening is a
 * shift, narrowing rounds to nearest-even (what oneDNN and AMX do), so a
 * tensor converted by kinema's own kernels equals one converted by
 * oneDNN's reorders. NaN stays NaN (quiet bit set).
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
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* Bulk conversions of n elements (AVX-512 when compiled for it). */
void nn_f32_to_bf16_n(const float *x, uint16_t *y, size_t n);
void nn_bf16_to_f32_n(const uint16_t *x, float *y, size_t n);

#endif
