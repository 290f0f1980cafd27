/*
 * bundle.c - bundle adjustment for self-calibration: Levenberg-Marquardt
 * over camera poses and 3D points with a Huber loss (by iteratively
 * reweighted least squares), residuals in pixels of the undistorted image.
 *
 * Sparsity: each point only couples to the cameras that see it, so its
 * 3x3 block is eliminated by the Schur complement, leaving a dense
 * 6(n-1) x 6(n-1) system for the cameras (the reference camera fixes the
 * gauge; LM damping handles the free scale), solved by Cholesky; points
 * are then back-substituted block by block.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "geom/linalg.h"
#include "geom/selfcal.h"


typedef struct {
    int np;             /* points in the problem */
    size_t *pt_index;   /* [np] index into the N points */
    int *start;         /* [np + 1] observation ranges */
    int nobs;
    int *cam;           /* [nobs] */
    size_t *src;        /* [nobs] point index (for xn lookup) */
} ba_problem;

static void ba_free(ba_problem *b)
{
    free(b->pt_index);
    free(b->start);
    free(b->cam);
    free(b->src);
}

/* How many cameras observe point p (0 when it has no 3D estimate). */
static int point_views(const obsdata *o, const double *X, size_t p)
{
    if (!isfinite(X[3 * p]))
        return 0;
    int k = 0;
    for (int c = 0; c < o->C; c++)
        k += o->ok[c][p];
    return k;
}

static int ba_build(const obsdata *o, const double *X, ba_problem *b)
{
    memset(b, 0, sizeof *b);
    size_t np = 0, nobs = 0;
    for (size_t p = 0; p < o->N; p++) {
        int k = point_views(o, X, p);
        if (k >= 2)
            np++, nobs += (size_t)k;
    }
    if (nobs > (size_t)1 << 30)
        return km_seterr(KM_ERANGE, "calibrate: too many observations");
    b->pt_index = malloc((np + 1) * sizeof *b->pt_index);
    b->start = malloc((np + 1) * sizeof *b->start);
    b->cam = malloc((nobs + 1) * sizeof *b->cam);
    b->src = malloc((nobs + 1) * sizeof *b->src);
    if (!b->pt_index || !b->start || !b->cam || !b->src) {
        ba_free(b);
        return km_seterr(KM_ENOMEM, "calibrate: out of memory");
    }
    int q = 0, n = 0;
    for (size_t p = 0; p < o->N; p++) {
        int k = point_views(o, X, p);
        if (k < 2)
            continue;
        b->pt_index[q] = p;
        b->start[q] = n;
        for (int c = 0; c < o->C; c++)
            if (o->ok[c][p]) {
                b->cam[n] = c;
                b->src[n] = p;
                n++;
            }
        q++;
    }
    b->start[q] = n;
    b->np = q;
    b->nobs = n;
    return 0;
}

static double huber_cost(double r2, double d)
{
    double r = sqrt(r2);
    return r <= d ? r2 : 2 * d * r - d * d;
}

/* Residual (pixels-scaled normalized) of one observation. */
static int ba_residual(const obsdata *o, const poses *ps, int c, size_t src, const double *X,
                       double p[3], double r[2])
{
    m3_mulv(ps->R[c], X, p);
    for (int d = 0; d < 3; d++)
        p[d] += ps->t[c][d];
    if (!(p[2] > 1e-9))
        return -1;
    double f = o->focal[c];
    r[0] = f * (p[0] / p[2] - o->xn[c][2 * src]);
    r[1] = f * (p[1] / p[2] - o->xn[c][2 * src + 1]);
    return 0;
}

static double ba_cost(const obsdata *o, const ba_problem *b, const poses *ps, const double *Xp,
                      double huber)
{
    double cost = 0;
    for (int q = 0; q < b->np; q++)
        for (int a = b->start[q]; a < b->start[q + 1]; a++) {
            double p[3], r[2];
            if (ba_residual(o, ps, b->cam[a], b->src[a], Xp + 3 * q, p, r) != 0)
                cost += 1e6 * huber;
            else
                cost += huber_cost(r[0] * r[0] + r[1] * r[1], huber);
        }
    return cost;
}

/* Normal equations of the current state: per camera U (6x6) and g (6),
 * per point V (3x3) and g (3), per observation W (6x3). */
typedef struct {
    double *U, *gc, *V, *gp, *W;
} ba_normal;

static void ba_linearize(const obsdata *o, const ba_problem *b, const poses *ps,
                         const double *Xp, double huber, ba_normal *nq)
{
    memset(nq->U, 0, (size_t)o->C * 36 * sizeof(double));
    memset(nq->gc, 0, (size_t)o->C * 6 * sizeof(double));
    for (int q = 0; q < b->np; q++) {
        double *V = nq->V + 9 * q, *gp = nq->gp + 3 * q;
        memset(V, 0, 9 * sizeof *V);
        memset(gp, 0, 3 * sizeof *gp);
        const double *X = Xp + 3 * q;
        for (int a = b->start[q]; a < b->start[q + 1]; a++) {
            int c = b->cam[a];
            double p[3], r[2], *W = nq->W + 18 * (size_t)a;
            memset(W, 0, 18 * sizeof *W);
            if (ba_residual(o, ps, c, b->src[a], X, p, r) != 0)
                continue;
            double rn = hypot(r[0], r[1]);
            double w = rn <= huber ? 1.0 : huber / rn;
            double f = o->focal[c], iz = 1.0 / p[2];
            double Jp[2][3] = {{f * iz, 0, -f * p[0] * iz * iz}, {0, f * iz, -f * p[1] * iz * iz}};
            /* camera: rotation perturbation (left) then translation */
            double RX[3] = {p[0] - ps->t[c][0], p[1] - ps->t[c][1], p[2] - ps->t[c][2]};
            double Jc[2][6], Jx[2][3];
            for (int i = 0; i < 2; i++) {
                /* d p / d omega = -[RX]x: columns e_k x RX */
                Jc[i][0] = Jp[i][1] * -RX[2] + Jp[i][2] * RX[1];
                Jc[i][1] = Jp[i][0] * RX[2] + Jp[i][2] * -RX[0];
                Jc[i][2] = Jp[i][0] * -RX[1] + Jp[i][1] * RX[0];
                Jc[i][3] = Jp[i][0], Jc[i][4] = Jp[i][1], Jc[i][5] = Jp[i][2];
                for (int k = 0; k < 3; k++)
                    Jx[i][k] = Jp[i][0] * ps->R[c][k] + Jp[i][1] * ps->R[c][3 + k] +
                               Jp[i][2] * ps->R[c][6 + k];
            }
            double *U = nq->U + 36 * c, *gc = nq->gc + 6 * c;
            for (int u = 0; u < 6; u++) {
                for (int v = 0; v < 6; v++)
                    U[6 * u + v] += w * (Jc[0][u] * Jc[0][v] + Jc[1][u] * Jc[1][v]);
                for (int v = 0; v < 3; v++)
                    W[3 * u + v] = w * (Jc[0][u] * Jx[0][v] + Jc[1][u] * Jx[1][v]);
                gc[u] += w * (Jc[0][u] * r[0] + Jc[1][u] * r[1]);
            }
            for (int u = 0; u < 3; u++) {
                for (int v = 0; v < 3; v++)
                    V[3 * u + v] += w * (Jx[0][u] * Jx[0][v] + Jx[1][u] * Jx[1][v]);
                gp[u] += w * (Jx[0][u] * r[0] + Jx[1][u] * r[1]);
            }
        }
    }
}

/* One damped step: Schur complement on the points, dense solve for the
 * cameras. Writes the new state into ps2 / X2. Returns 0 or -1. */
static int ba_step(const obsdata *o, const ba_problem *b, const ba_normal *nq, int ref,
                   double lambda, const poses *ps, const double *Xp, poses *ps2, double *X2,
                   double *S, double *rhs, double *dc)
{
    int var[KM_GEOM_MAX_CAMERAS], nv = 0;
    for (int c = 0; c < o->C; c++)
        var[c] = c == ref ? -1 : nv++;
    int n = 6 * nv;
    memset(S, 0, (size_t)n * n * sizeof *S);
    for (int c = 0; c < o->C; c++) {
        if (var[c] < 0)
            continue;
        const double *U = nq->U + 36 * c;
        for (int u = 0; u < 6; u++) {
            for (int v = 0; v < 6; v++)
                S[(size_t)(6 * var[c] + u) * n + 6 * var[c] + v] = U[6 * u + v];
            S[(size_t)(6 * var[c] + u) * n + 6 * var[c] + u] += lambda * U[7 * u] + 1e-9;
            rhs[6 * var[c] + u] = -nq->gc[6 * c + u];
        }
    }
    for (int q = 0; q < b->np; q++) {
        double V[9], Vi[9], Y[KM_GEOM_MAX_CAMERAS][18];
        memcpy(V, nq->V + 9 * q, sizeof V);
        for (int d = 0; d < 3; d++)
            V[4 * d] += lambda * V[4 * d] + 1e-12;
        if (m3_inverse(V, Vi) != 0)
            return -1;
        const double *gp = nq->gp + 3 * q;
        int a0 = b->start[q], na = b->start[q + 1] - a0;
        for (int i = 0; i < na; i++) {
            const double *W = nq->W + 18 * (size_t)(a0 + i);
            for (int u = 0; u < 6; u++)
                for (int v = 0; v < 3; v++)
                    Y[i][3 * u + v] = W[3 * u] * Vi[v] + W[3 * u + 1] * Vi[3 + v] +
                                      W[3 * u + 2] * Vi[6 + v];
        }
        for (int i = 0; i < na; i++) {
            int ci = var[b->cam[a0 + i]];
            if (ci < 0)
                continue;
            for (int u = 0; u < 6; u++)
                rhs[6 * ci + u] += Y[i][3 * u] * gp[0] + Y[i][3 * u + 1] * gp[1] +
                                   Y[i][3 * u + 2] * gp[2];
            for (int j = 0; j < na; j++) {
                int cj = var[b->cam[a0 + j]];
                if (cj < 0)
                    continue;
                const double *Wj = nq->W + 18 * (size_t)(a0 + j);
                for (int u = 0; u < 6; u++)
                    for (int v = 0; v < 6; v++)
                        S[(size_t)(6 * ci + u) * n + 6 * cj + v] -=
                            Y[i][3 * u] * Wj[3 * v] + Y[i][3 * u + 1] * Wj[3 * v + 1] +
                            Y[i][3 * u + 2] * Wj[3 * v + 2];
            }
        }
    }
    memcpy(dc, rhs, (size_t)n * sizeof *dc);
    if (n > 0 && LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', n, 1, S, n, dc, 1) != 0)
        return -1;
    /* cameras */
    *ps2 = *ps;
    for (int c = 0; c < o->C; c++) {
        if (var[c] < 0)
            continue;
        const double *d = dc + 6 * var[c];
        double dR[9], Rn[9];
        km_rodrigues(d, dR);
        m3_mul(dR, ps->R[c], Rn);
        memcpy(ps2->R[c], Rn, sizeof Rn);
        for (int k = 0; k < 3; k++)
            ps2->t[c][k] = ps->t[c][k] + d[3 + k];
    }
    /* points: dX = V*^-1 (-gp - sum W^T dc) */
    for (int q = 0; q < b->np; q++) {
        double V[9], Vi[9], r[3];
        memcpy(V, nq->V + 9 * q, sizeof V);
        for (int d = 0; d < 3; d++)
            V[4 * d] += lambda * V[4 * d] + 1e-12;
        if (m3_inverse(V, Vi) != 0)
            return -1;
        for (int d = 0; d < 3; d++)
            r[d] = -nq->gp[3 * q + d];
        for (int a = b->start[q]; a < b->start[q + 1]; a++) {
            int ci = var[b->cam[a]];
            if (ci < 0)
                continue;
            const double *W = nq->W + 18 * (size_t)a, *d = dc + 6 * ci;
            for (int v = 0; v < 3; v++)
                for (int u = 0; u < 6; u++)
                    r[v] -= W[3 * u + v] * d[u];
        }
        double dX[3];
        m3_mulv(Vi, r, dX);
        for (int d = 0; d < 3; d++)
            X2[3 * q + d] = Xp[3 * q + d] + dX[d];
    }
    return 0;
}

int geom_bundle_adjust(const obsdata *o, poses *ps, int ref, double *X, double huber,
                         int iters, int *done)
{
    ba_problem b;
    int rc = ba_build(o, X, &b);
    if (rc)
        return rc;
    int n = 6 * (o->C - 1);
    ba_normal nq;
    nq.U = malloc((size_t)o->C * 36 * sizeof(double));
    nq.gc = malloc((size_t)o->C * 6 * sizeof(double));
    nq.V = malloc(((size_t)b.np * 9 + 1) * sizeof(double));
    nq.gp = malloc(((size_t)b.np * 3 + 1) * sizeof(double));
    nq.W = malloc(((size_t)b.nobs * 18 + 1) * sizeof(double));
    double *Xp = malloc(((size_t)b.np * 3 + 1) * sizeof(double));
    double *X2 = malloc(((size_t)b.np * 3 + 1) * sizeof(double));
    double *S = malloc(((size_t)n * n + 1) * sizeof(double));
    double *rhs = malloc(((size_t)n + 1) * sizeof(double));
    double *dc = malloc(((size_t)n + 1) * sizeof(double));
    if (!nq.U || !nq.gc || !nq.V || !nq.gp || !nq.W || !Xp || !X2 || !S || !rhs || !dc) {
        rc = km_seterr(KM_ENOMEM, "calibrate: out of memory for bundle adjustment");
        goto out;
    }
    for (int q = 0; q < b.np; q++)
        memcpy(Xp + 3 * q, X + 3 * b.pt_index[q], 3 * sizeof(double));
    double cost = ba_cost(o, &b, ps, Xp, huber), lambda = 1e-4;
    int it, converged = 0;
    for (it = 0; it < iters && !converged; it++) {
        ba_linearize(o, &b, ps, Xp, huber, &nq);
        int accepted = 0;
        for (int tries = 0; tries < 10 && !accepted; tries++) {
            poses ps2;
            if (ba_step(o, &b, &nq, ref, lambda, ps, Xp, &ps2, X2, S, rhs, dc) == 0) {
                double c2 = ba_cost(o, &b, &ps2, X2, huber);
                if (c2 < cost) {
                    double rel = (cost - c2) / cost;
                    *ps = ps2;
                    memcpy(Xp, X2, (size_t)b.np * 3 * sizeof(double));
                    cost = c2;
                    lambda = fmax(lambda / 3, 1e-9);
                    accepted = 1;
                    converged = rel < 1e-6;
                    break;
                }
            }
            lambda *= 6;
        }
        if (!accepted)
            break;
    }
    *done += it;
    for (size_t p = 0; p < o->N; p++)
        X[3 * p] = X[3 * p + 1] = X[3 * p + 2] = NAN;
    for (int q = 0; q < b.np; q++)
        memcpy(X + 3 * b.pt_index[q], Xp + 3 * q, 3 * sizeof(double));
out:
    free(nq.U), free(nq.gc), free(nq.V), free(nq.gp), free(nq.W);
    free(Xp), free(X2), free(S), free(rhs), free(dc);
    ba_free(&b);
    return rc;
}
