/*
 * rng.c - deterministic pseudo-random numbers for the synthetic rig and
 * RANSAC: xoshiro256** seeded through splitmix64 (Blackman & Vigna), so a
 * given --seed gives the same bytes on every machine (never rand()).
 */
#include <math.h>

#include "kinema/geom.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void km_rng_seed(km_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t km_rng_next(km_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double km_rng_uniform(km_rng *r)
{
    return (double)(km_rng_next(r) >> 11) * 0x1.0p-53;
}

double km_rng_gauss(km_rng *r)
{
    /* Box-Muller; one value per call keeps the stream position simple */
    double u1 = km_rng_uniform(r), u2 = km_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
