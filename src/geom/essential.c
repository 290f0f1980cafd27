/*
 * essential.c - relative pose of a camera pair from corresponding
 * normalized observations: the essential matrix by the Hartley-normalised
 * 8-point algorithm inside RANSAC (Sampson distance, adaptive stopping,
 * local refit on each new best hypothesis), refit on all inliers, then
 * decomposition into (R, t) with the cheirality test.
 *
 * Why its own file: it is the robust front end of self-calibration
 * (calibrate.c), independent of how the pairs are chained.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "geom/linalg.h"
#include "geom/selfcal.h"

#define RANSAC_EVAL_MAX 4000 /* hypotheses are scored on at most this many points */


/* Closest essential matrix: singular values (s, s, 0). */
static int project_essential(double E[9])
{
    double U[9], Vt[9], D[3], sup[2], A[9];
    memcpy(A, E, sizeof A);
    if (LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'A', 'A', 3, 3, A, 3, D, U, 3, Vt, 3, sup) != 0)
        return -1;
    double s = 0.5 * (D[0] + D[1]);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            E[3 * r + c] = s * (U[3 * r] * Vt[c] + U[3 * r + 1] * Vt[3 + c]);
    return 0;
}

/* Hartley normalisation of the points idx[0..n) of one view: centroid to
 * the origin, mean distance sqrt(2). T maps x -> T x (3x3). */
static void hartley(const double *a, const int *idx, int n, double T[9])
{
    double mx = 0, my = 0, md = 0;
    for (int i = 0; i < n; i++)
        mx += a[2 * idx[i]], my += a[2 * idx[i] + 1];
    mx /= n, my /= n;
    for (int i = 0; i < n; i++)
        md += hypot(a[2 * idx[i]] - mx, a[2 * idx[i] + 1] - my);
    md /= n;
    double s = md > 1e-12 ? sqrt(2.0) / md : 1.0;
    double M[9] = {s, 0, -s * mx, 0, s, -s * my, 0, 0, 1};
    memcpy(T, M, sizeof M);
}

/* Linear 8-point (or more) estimate from correspondences idx[0..n), on
 * Hartley-normalised coordinates (the person covers a small part of the
 * image, so raw coordinates give an ill-conditioned system). */
static int essential_linear(const double *a, const double *b, const int *idx, int n,
                            double E[9])
{
    double Ta[9], Tb[9], M[81] = {0}, w[9];
    hartley(a, idx, n, Ta);
    hartley(b, idx, n, Tb);
    for (int i = 0; i < n; i++) {
        const double *p0 = a + 2 * idx[i], *q0 = b + 2 * idx[i];
        double p[2] = {Ta[0] * p0[0] + Ta[2], Ta[4] * p0[1] + Ta[5]};
        double q[2] = {Tb[0] * q0[0] + Tb[2], Tb[4] * q0[1] + Tb[5]};
        double r[9] = {q[0] * p[0], q[0] * p[1], q[0], q[1] * p[0], q[1] * p[1], q[1],
                       p[0], p[1], 1};
        for (int u = 0; u < 9; u++)
            for (int v = u; v < 9; v++)
                M[9 * u + v] += r[u] * r[v];
    }
    if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', 9, M, 9, w) != 0)
        return -1;
    double Fn[9], tmp[9];
    for (int k = 0; k < 9; k++)
        Fn[k] = M[9 * k]; /* eigenvector of the smallest eigenvalue: column 0 */
    /* back to normalized camera coordinates: E = Tb^T Fn Ta */
    m3_tmul(Tb, Fn, tmp);
    m3_mul(tmp, Ta, E);
    return project_essential(E);
}

static double sampson(const double E[9], const double *p, const double *q)
{
    double x1[3] = {p[0], p[1], 1}, x2[3] = {q[0], q[1], 1}, Ex[3], Etx[3];
    m3_mulv(E, x1, Ex);
    m3_tmulv(E, x2, Etx);
    double num = v3_dot(x2, Ex);
    double den = Ex[0] * Ex[0] + Ex[1] * Ex[1] + Etx[0] * Etx[0] + Etx[1] * Etx[1];
    return den > 0 ? num * num / den : INFINITY;
}

static int count_inliers(const double E[9], const double *a, const double *b, const int *idx,
                         int n, double th2, uint8_t *mask)
{
    int cnt = 0;
    for (int i = 0; i < n; i++) {
        int in = sampson(E, a + 2 * idx[i], b + 2 * idx[i]) < th2;
        if (mask)
            mask[i] = (uint8_t)in;
        cnt += in;
    }
    return cnt;
}

/* Points in front of both cameras [I|0] and [R|t], over up to 300 pairs. */
static int cheirality(const double R[9], const double t[3], const double *a, const double *b,
                      const int *idx, int n)
{
    double P1[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0}, P2[12];
    for (int r = 0; r < 3; r++) {
        memcpy(P2 + 4 * r, R + 3 * r, 3 * sizeof(double));
        P2[4 * r + 3] = t[r];
    }
    const double *Ps[2] = {P1, P2};
    double w[2] = {1, 1};
    int good = 0, step = n > 300 ? n / 300 : 1;
    for (int i = 0; i < n; i += step) {
        double x[4] = {a[2 * idx[i]], a[2 * idx[i] + 1], b[2 * idx[i]], b[2 * idx[i] + 1]};
        double X[3], q[3];
        if (km_triangulate_normalized(2, Ps, x, w, X) != 0)
            continue;
        m3_mulv(R, X, q);
        good += X[2] > 0 && q[2] + t[2] > 0;
    }
    return good;
}

static int decompose_essential(const double E[9], const double *a, const double *b,
                               const int *idx, int n, double R[9], double t[3])
{
    double U[9], Vt[9], D[3], sup[2], A[9];
    memcpy(A, E, sizeof A);
    if (LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'A', 'A', 3, 3, A, 3, D, U, 3, Vt, 3, sup) != 0)
        return -1;
    if (m3_det(U) < 0)
        for (int i = 0; i < 9; i++)
            U[i] = -U[i];
    if (m3_det(Vt) < 0)
        for (int i = 0; i < 9; i++)
            Vt[i] = -Vt[i];
    const double W[9] = {0, -1, 0, 1, 0, 0, 0, 0, 1};
    double UW[9], Ra[9], Rb[9];
    m3_mul(U, W, UW);
    m3_mul(UW, Vt, Ra);
    m3_mult(U, W, UW); /* U W^T */
    m3_mul(UW, Vt, Rb);
    double tu[3] = {U[2], U[5], U[8]};
    int best = -1;
    for (int k = 0; k < 4; k++) {
        const double *Rk = k < 2 ? Ra : Rb;
        double tk[3] = {tu[0], tu[1], tu[2]};
        if (k % 2)
            v3_scale(tk, -1);
        int g = cheirality(Rk, tk, a, b, idx, n);
        if (g > best) {
            best = g;
            memcpy(R, Rk, 9 * sizeof(double));
            memcpy(t, tk, 3 * sizeof(double));
        }
    }
    return best > 0 ? 0 : -1;
}


int geom_pair_estimate(const obsdata *o, int i, int j, const km_selfcal_opts *opt, km_rng *rng,
                         pair_pose *out)
{
    memset(out, 0, sizeof *out);
    int *idx = malloc(o->N * sizeof *idx + 1);
    uint8_t *mask = malloc(o->N + 1);
    int *sel = malloc(o->N * sizeof *sel + 1);
    if (!idx || !mask || !sel) {
        free(idx);
        free(mask);
        free(sel);
        return km_seterr(KM_ENOMEM, "calibrate: out of memory");
    }
    int n = 0;
    for (size_t p = 0; p < o->N; p++)
        if (o->ok[i][p] && o->ok[j][p])
            idx[n++] = (int)p;
    const double *a = o->xn[i], *b = o->xn[j];
    double f = 0.5 * (o->focal[i] + o->focal[j]);
    double th2 = (opt->ransac_px / f) * (opt->ransac_px / f);
    if (n >= MIN_PAIR_POINTS) {
        /* evaluate hypotheses on an evenly spread subset */
        int ne = n < RANSAC_EVAL_MAX ? n : RANSAC_EVAL_MAX;
        int *ev = malloc((size_t)ne * sizeof *ev);
        int *lo = malloc((size_t)ne * sizeof *lo);
        double bestE[9];
        int best = -1;
        for (int k = 0; ev && k < ne; k++)
            ev[k] = idx[(size_t)k * n / ne];
        int iters = opt->ransac_iters;
        for (int it = 0; ev && lo && it < iters; it++) {
            int s[8];
            for (int k = 0; k < 8; k++)
                s[k] = idx[km_rng_next(rng) % (uint64_t)n];
            double E[9];
            if (essential_linear(a, b, s, 8, E) != 0)
                continue;
            int c = count_inliers(E, a, b, ev, ne, th2, NULL);
            if (c > best && c >= 16) {
                /* local optimisation: refit on this hypothesis' inliers */
                int m = 0;
                for (int k = 0; k < ne; k++)
                    if (sampson(E, a + 2 * ev[k], b + 2 * ev[k]) < th2)
                        lo[m++] = ev[k];
                double E2[9];
                if (essential_linear(a, b, lo, m, E2) == 0) {
                    int c2 = count_inliers(E2, a, b, ev, ne, th2, NULL);
                    if (c2 > c)
                        c = c2, memcpy(E, E2, sizeof E2);
                }
            }
            if (c > best) {
                best = c;
                memcpy(bestE, E, sizeof E);
                double w = (double)c / ne, p8 = pow(w, 8);
                if (p8 > 1 - 1e-12)
                    iters = it + 1;
                else if (p8 > 0) {
                    double need = log(1e-3) / log(1 - p8);
                    if (need >= 0 && need < iters)
                        iters = (int)need + 1;
                }
            }
        }
        free(ev);
        free(lo);
        if (best >= 8) {
            /* refit on all inliers while that gains inliers, then
             * decompose on the inliers of the best fit */
            int have = count_inliers(bestE, a, b, idx, n, th2, mask);
            for (int round = 0; round < 3; round++) {
                int m = 0;
                for (int k = 0; k < n; k++)
                    if (mask[k])
                        sel[m++] = idx[k];
                double E2[9];
                if (m < 8 || essential_linear(a, b, sel, m, E2) != 0)
                    break;
                int c2 = count_inliers(E2, a, b, idx, n, th2, NULL);
                if (c2 <= have)
                    break;
                have = c2;
                memcpy(bestE, E2, sizeof E2);
                count_inliers(bestE, a, b, idx, n, th2, mask);
            }
            int m = 0;
            for (int k = 0; k < n; k++)
                if (mask[k])
                    idx[m++] = idx[k];
            n = m;
            out->inliers = count_inliers(bestE, a, b, idx, n, th2, NULL);
            if (out->inliers >= MIN_PAIR_POINTS &&
                decompose_essential(bestE, a, b, idx, n, out->R, out->t) == 0)
                out->valid = 1;
        }
    }
    free(idx);
    free(mask);
    free(sel);
    return 0;
}
