/*
 * linalg.h - small fixed-size vector and matrix helpers shared by the geom
 * modules (internal, header-only so the compiler inlines them in hot loops).
 * Matrices are row-major double arrays.
 */
#ifndef KINEMA_GEOM_LINALG_H
#define KINEMA_GEOM_LINALG_H

#include <math.h>
#include <string.h>

static inline double v3_dot(const double *a, const double *b)
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

static inline void v3_cross(const double *a, const double *b, double *o)
{
    double x = a[1] * b[2] - a[2] * b[1];
    double y = a[2] * b[0] - a[0] * b[2];
    double z = a[0] * b[1] - a[1] * b[0];
    o[0] = x, o[1] = y, o[2] = z;
}

static inline double v3_norm(const double *a)
{
    return sqrt(v3_dot(a, a));
}

static inline void v3_scale(double *a, double s)
{
    a[0] *= s, a[1] *= s, a[2] *= s;
}

static inline double v3_normalize(double *a)
{
    double n = v3_norm(a);
    if (n > 0)
        v3_scale(a, 1.0 / n);
    return n;
}

static inline double v3_dist(const double *a, const double *b)
{
    double d[3] = {a[0] - b[0], a[1] - b[1], a[2] - b[2]};
    return v3_norm(d);
}

/* o = M v (3x3). */
static inline void m3_mulv(const double *M, const double *v, double *o)
{
    double x = M[0] * v[0] + M[1] * v[1] + M[2] * v[2];
    double y = M[3] * v[0] + M[4] * v[1] + M[5] * v[2];
    double z = M[6] * v[0] + M[7] * v[1] + M[8] * v[2];
    o[0] = x, o[1] = y, o[2] = z;
}

/* o = M^T v (3x3). */
static inline void m3_tmulv(const double *M, const double *v, double *o)
{
    double x = M[0] * v[0] + M[3] * v[1] + M[6] * v[2];
    double y = M[1] * v[0] + M[4] * v[1] + M[7] * v[2];
    double z = M[2] * v[0] + M[5] * v[1] + M[8] * v[2];
    o[0] = x, o[1] = y, o[2] = z;
}

/* O = A B (3x3); O may alias neither. */
static inline void m3_mul(const double *A, const double *B, double *O)
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            O[3 * i + j] = A[3 * i] * B[j] + A[3 * i + 1] * B[3 + j] + A[3 * i + 2] * B[6 + j];
}

/* O = A^T B (3x3). */
static inline void m3_tmul(const double *A, const double *B, double *O)
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            O[3 * i + j] = A[i] * B[j] + A[3 + i] * B[3 + j] + A[6 + i] * B[6 + j];
}

/* O = A B^T (3x3). */
static inline void m3_mult(const double *A, const double *B, double *O)
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            O[3 * i + j] = A[3 * i] * B[3 * j] + A[3 * i + 1] * B[3 * j + 1] +
                           A[3 * i + 2] * B[3 * j + 2];
}

static inline void m3_transpose(const double *A, double *O)
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            O[3 * j + i] = A[3 * i + j];
}

static inline double m3_det(const double *A)
{
    return A[0] * (A[4] * A[8] - A[5] * A[7]) - A[1] * (A[3] * A[8] - A[5] * A[6]) +
           A[2] * (A[3] * A[7] - A[4] * A[6]);
}

static inline void m3_identity(double *A)
{
    memset(A, 0, 9 * sizeof *A);
    A[0] = A[4] = A[8] = 1.0;
}

/* Inverse of a 3x3 matrix; returns -1 if singular. */
static inline int m3_inverse(const double *A, double *O);

/* Solve the 3x3 system A x = b. Returns 0, or -1 when A is (near)
 * singular relative to its scale. */
static inline int m3_solve(const double *A, const double *b, double *x)
{
    double Ai[9];
    double scale = fabs(A[0]) + fabs(A[4]) + fabs(A[8]);
    double det = m3_det(A);
    if (!(fabs(det) > 1e-13 * scale * scale * scale))
        return -1;
    if (m3_inverse(A, Ai) != 0)
        return -1;
    m3_mulv(Ai, b, x);
    return 0;
}

/* Inverse of a 3x3 matrix; returns -1 if singular. */
static inline int m3_inverse(const double *A, double *O)
{
    double det = m3_det(A);
    if (!(fabs(det) > 1e-300))
        return -1;
    double inv = 1.0 / det;
    O[0] = (A[4] * A[8] - A[5] * A[7]) * inv;
    O[1] = (A[2] * A[7] - A[1] * A[8]) * inv;
    O[2] = (A[1] * A[5] - A[2] * A[4]) * inv;
    O[3] = (A[5] * A[6] - A[3] * A[8]) * inv;
    O[4] = (A[0] * A[8] - A[2] * A[6]) * inv;
    O[5] = (A[2] * A[3] - A[0] * A[5]) * inv;
    O[6] = (A[3] * A[7] - A[4] * A[6]) * inv;
    O[7] = (A[1] * A[6] - A[0] * A[7]) * inv;
    O[8] = (A[0] * A[4] - A[1] * A[3]) * inv;
    return 0;
}

#endif
