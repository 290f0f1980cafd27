/*
 * align.c - similarity alignment of point sets (Umeyama 1991), used to
 * compare a self-calibrated rig or reconstruction with ground truth, whose
 * world frames differ by a rotation, translation and scale.
 */
#include <math.h>
#include <string.h>

#include <lapacke.h>

#include "kinema/geom.h"
#include "geom/linalg.h"

int km_similarity_fit(int n, const double *src, const double *dst, double *s, double R[9],
                      double t[3])
{
    double ms[3] = {0}, md[3] = {0};
    int m = 0;
    for (int i = 0; i < n; i++) {
        const double *a = src + 3 * i, *b = dst + 3 * i;
        if (!(isfinite(a[0]) && isfinite(a[1]) && isfinite(a[2]) && isfinite(b[0]) &&
              isfinite(b[1]) && isfinite(b[2])))
            continue;
        for (int d = 0; d < 3; d++)
            ms[d] += a[d], md[d] += b[d];
        m++;
    }
    if (m < 3)
        return -1;
    for (int d = 0; d < 3; d++)
        ms[d] /= m, md[d] /= m;
    double S[9] = {0}, var = 0;
    for (int i = 0; i < n; i++) {
        const double *a = src + 3 * i, *b = dst + 3 * i;
        if (!(isfinite(a[0]) && isfinite(a[1]) && isfinite(a[2]) && isfinite(b[0]) &&
              isfinite(b[1]) && isfinite(b[2])))
            continue;
        double p[3] = {a[0] - ms[0], a[1] - ms[1], a[2] - ms[2]};
        double q[3] = {b[0] - md[0], b[1] - md[1], b[2] - md[2]};
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
                S[3 * r + c] += q[r] * p[c] / m;
        var += v3_dot(p, p) / m;
    }
    if (!(var > 0))
        return -1;
    double U[9], Vt[9], D[3], sup[2];
    if (LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'A', 'A', 3, 3, S, 3, D, U, 3, Vt, 3, sup) != 0)
        return -1;
    double sgn = m3_det(U) * m3_det(Vt) < 0 ? -1 : 1;
    double Us[9];
    memcpy(Us, U, sizeof Us);
    for (int r = 0; r < 3; r++)
        Us[3 * r + 2] *= sgn;
    m3_mul(Us, Vt, R);
    *s = (D[0] + D[1] + sgn * D[2]) / var;
    double Rm[3];
    m3_mulv(R, ms, Rm);
    for (int d = 0; d < 3; d++)
        t[d] = md[d] - *s * Rm[d];
    return 0;
}
