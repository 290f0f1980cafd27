/*
 * triangulate.c - robust multi-camera triangulation of 2D keypoints.
 *
 * Why this design: it is the innermost loop of the 3D pipeline (cameras x
 * keypoints x frames), so each point is solved in closed form: the
 * confidence-weighted linear (DLT) system on undistorted normalized
 * coordinates, with the homogeneous coordinate fixed to 1, reduces to 3x3
 * normal equations. One reweighting by 1/depth turns the algebraic error
 * into (approximately) the reprojection error. When a view's error exceeds
 * the threshold, a few views (<= 6) restart from the largest set agreeing
 * with a two-view solution; then outlying views are removed one at a time
 * (worst reprojection error first) while the error exceeds the threshold,
 * down to the minimum camera count; an optional Gauss-Newton pass then
 * minimises the true reprojection error. When only two of four or more
 * usable views remain, the point is dropped: any two views agree with their
 * own two-view point, so which pair is right is ambiguous, and a gap that
 * the temporal tools fill beats a wrong point.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/geom.h"
#include "geom/linalg.h"

/* Up to this many views an outlier triggers the all-pairs consensus
 * (at most 15 two-view solves); with more views the linear solution is
 * dominated by the inliers and greedy worst-view removal is enough, which
 * keeps the cost linear in the number of cameras. */
#define CONSENSUS_MAX_VIEWS 6

struct km_triangulator {
    int ncams;
    km_tri_opts opts;
    km_camera cams[KM_GEOM_MAX_CAMERAS];
    double Rt[KM_GEOM_MAX_CAMERAS][12]; /* [R|t] row-major */
    double focal[KM_GEOM_MAX_CAMERAS];  /* (fx + fy) / 2: normalized -> px */
};

void km_tri_opts_default(km_tri_opts *o)
{
    o->min_score = 0.3;
    o->min_cameras = 2;
    o->reproj_threshold = 15.0;
    o->refine = 0;
}

int km_triangulator_create(const km_calib *calib, const km_tri_opts *opts, km_triangulator **out)
{
    *out = NULL;
    if (!calib || calib->ncams < 2 || calib->ncams > KM_GEOM_MAX_CAMERAS)
        return km_seterr(KM_EINVAL, "triangulation needs 2..%d cameras, got %d",
                         KM_GEOM_MAX_CAMERAS, calib ? calib->ncams : 0);
    km_triangulator *t = calloc(1, sizeof *t);
    if (!t)
        return km_seterr(KM_ENOMEM, "out of memory for the triangulator");
    t->ncams = calib->ncams;
    if (opts)
        t->opts = *opts;
    else
        km_tri_opts_default(&t->opts);
    if (t->opts.min_cameras < 2)
        t->opts.min_cameras = 2;
    for (int c = 0; c < t->ncams; c++) {
        km_camera *cam = &t->cams[c];
        *cam = calib->cams[c];
        km_camera_update(cam);
        if (!(cam->K[0] > 0 && cam->K[4] > 0)) {
            free(t);
            return km_seterr(KM_EINVAL, "camera %d (%s): focal lengths must be positive", c,
                             cam->name);
        }
        for (int r = 0; r < 3; r++) {
            memcpy(&t->Rt[c][4 * r], &cam->R[3 * r], 3 * sizeof(double));
            t->Rt[c][4 * r + 3] = cam->t[r];
        }
        t->focal[c] = 0.5 * (cam->K[0] + cam->K[4]);
    }
    *out = t;
    return 0;
}

void km_triangulator_free(km_triangulator *t)
{
    free(t);
}

/* Weighted linear solve with W = 1 over the views in `use`. */
static int solve_linear(int n, const double *const *Rt, const double *xn, const double *w,
                        double X[3])
{
    double A[9] = {0}, b[3] = {0};
    for (int i = 0; i < n; i++) {
        const double *P = Rt[i];
        double x = xn[2 * i], y = xn[2 * i + 1], w2 = w[i] * w[i];
        double r1[4], r2[4];
        for (int j = 0; j < 4; j++) {
            r1[j] = x * P[8 + j] - P[j];
            r2[j] = y * P[8 + j] - P[4 + j];
        }
        for (int p = 0; p < 3; p++) {
            for (int q = p; q < 3; q++)
                A[3 * p + q] += w2 * (r1[p] * r1[q] + r2[p] * r2[q]);
            b[p] -= w2 * (r1[p] * r1[3] + r2[p] * r2[3]);
        }
    }
    A[3] = A[1], A[6] = A[2], A[7] = A[5];
    return m3_solve(A, b, X);
}

int km_triangulate_normalized(int n, const double *const *Rt, const double *xn,
                              const double *w, double X[3])
{
    if (n < 2 || n > KM_GEOM_MAX_CAMERAS)
        return -1;
    if (solve_linear(n, Rt, xn, w, X) != 0)
        return -1;
    /* reweight by 1/depth: algebraic residual = depth x image residual */
    double w2[KM_GEOM_MAX_CAMERAS];
    for (int i = 0; i < n; i++) {
        const double *P = Rt[i];
        double z = P[8] * X[0] + P[9] * X[1] + P[10] * X[2] + P[11];
        if (!(z > 1e-6))
            return 0;
        w2[i] = w[i] / z;
    }
    double Y[3];
    if (solve_linear(n, Rt, xn, w2, Y) == 0)
        memcpy(X, Y, sizeof Y);
    return 0;
}

/* Reprojection error of X in camera with [R|t] P against normalized xn,
 * in normalized units; huge when behind the camera. */
static double reproj_norm(const double *P, const double *xn, const double *X)
{
    double px = P[0] * X[0] + P[1] * X[1] + P[2] * X[2] + P[3];
    double py = P[4] * X[0] + P[5] * X[1] + P[6] * X[2] + P[7];
    double pz = P[8] * X[0] + P[9] * X[1] + P[10] * X[2] + P[11];
    if (!(pz > 1e-9))
        return 1e9;
    double dx = px / pz - xn[0], dy = py / pz - xn[1];
    return sqrt(dx * dx + dy * dy);
}

/* Gauss-Newton on the reprojection error (weighted, normalized coords). */
static void refine_point(int n, const double *const *Rt, const double *xn, const double *w,
                         const double *focal, int iters, double X[3])
{
    for (int it = 0; it < iters; it++) {
        double H[9] = {0}, g[3] = {0};
        for (int i = 0; i < n; i++) {
            const double *P = Rt[i];
            double p[3];
            for (int r = 0; r < 3; r++)
                p[r] = P[4 * r] * X[0] + P[4 * r + 1] * X[1] + P[4 * r + 2] * X[2] + P[4 * r + 3];
            if (!(p[2] > 1e-9))
                return;
            double iz = 1.0 / p[2];
            double u = p[0] * iz, v = p[1] * iz;
            double ru = u - xn[2 * i], rv = v - xn[2 * i + 1];
            double ww = w[i] * w[i] * focal[i] * focal[i];
            double Ju[3], Jv[3];
            for (int c = 0; c < 3; c++) {
                Ju[c] = (P[c] - u * P[8 + c]) * iz;
                Jv[c] = (P[4 + c] - v * P[8 + c]) * iz;
            }
            for (int a = 0; a < 3; a++) {
                for (int b = 0; b < 3; b++)
                    H[3 * a + b] += ww * (Ju[a] * Ju[b] + Jv[a] * Jv[b]);
                g[a] += ww * (Ju[a] * ru + Jv[a] * rv);
            }
        }
        double d[3];
        if (m3_solve(H, g, d) != 0)
            return;
        X[0] -= d[0], X[1] -= d[1], X[2] -= d[2];
        if (fabs(d[0]) + fabs(d[1]) + fabs(d[2]) < 1e-10)
            return;
    }
}

/* Views to keep by consensus: the pair of views whose two-view point
 * agrees (error <= threshold) with the most views, ties broken by the
 * summed error. Writes keep[i] and returns the count (0 if no pair
 * solved). Used only when the all-view solution has an outlier. */
static int pair_consensus(int n, const double *const *Rt, const double *xn, const double *w,
                          const double *f, double thresh, int *keep)
{
    int best = 0;
    double best_sum = INFINITY;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            const double *R2[2] = {Rt[i], Rt[j]};
            double x2[4] = {xn[2 * i], xn[2 * i + 1], xn[2 * j], xn[2 * j + 1]};
            double w2[2] = {w[i], w[j]}, X[3];
            if (km_triangulate_normalized(2, R2, x2, w2, X) != 0)
                continue;
            int cnt = 0;
            double sum = 0;
            for (int k = 0; k < n; k++) {
                double e = reproj_norm(Rt[k], &xn[2 * k], X) * f[k];
                if (e <= thresh)
                    cnt++, sum += e;
            }
            if (cnt > best || (cnt == best && sum < best_sum)) {
                best = cnt, best_sum = sum;
                for (int k = 0; k < n; k++)
                    keep[k] = reproj_norm(Rt[k], &xn[2 * k], X) * f[k] <= thresh;
            }
        }
    return best;
}

/* Triangulate one keypoint from per-camera (x, y, score) pointers. */
static void triangulate_point(const km_triangulator *t, const double *const *obs, double X[3],
                              double *err_out, uint32_t *mask_out)
{
    const km_tri_opts *o = &t->opts;
    const double *Rt[KM_GEOM_MAX_CAMERAS];
    double xn[2 * KM_GEOM_MAX_CAMERAS], w[KM_GEOM_MAX_CAMERAS], f[KM_GEOM_MAX_CAMERAS];
    int cam[KM_GEOM_MAX_CAMERAS], n = 0;
    for (int c = 0; c < t->ncams; c++) {
        const double *p = obs[c];
        if (!(p[2] >= o->min_score) || !isfinite(p[0]) || !isfinite(p[1]))
            continue;
        km_camera_undistort_normalized(&t->cams[c], p, &xn[2 * n]);
        Rt[n] = t->Rt[c];
        w[n] = p[2];
        f[n] = t->focal[c];
        cam[n] = c;
        n++;
    }
    X[0] = X[1] = X[2] = NAN;
    double err = NAN;
    uint32_t mask = 0;
    int tried_consensus = 0, n_usable = n;
    while (n >= o->min_cameras) {
        if (km_triangulate_normalized(n, Rt, xn, w, X) != 0) {
            X[0] = X[1] = X[2] = NAN;
            break;
        }
        int worst = -1;
        double wmax = -1, sum = 0;
        for (int i = 0; i < n; i++) {
            double e = reproj_norm(Rt[i], &xn[2 * i], X) * f[i];
            sum += e;
            if (e > wmax)
                wmax = e, worst = i;
        }
        if (wmax > o->reproj_threshold && n > o->min_cameras && n <= CONSENSUS_MAX_VIEWS &&
            !tried_consensus) {
            /* an outlier pulls the linear solution: restart from the
             * largest set of views that agree with a two-view point */
            int keep[KM_GEOM_MAX_CAMERAS], m = 0;
            tried_consensus = 1;
            if (pair_consensus(n, Rt, xn, w, f, o->reproj_threshold, keep) >= o->min_cameras) {
                for (int i = 0; i < n; i++)
                    if (keep[i]) {
                        Rt[m] = Rt[i], xn[2 * m] = xn[2 * i], xn[2 * m + 1] = xn[2 * i + 1];
                        w[m] = w[i], f[m] = f[i], cam[m] = cam[i];
                        m++;
                    }
                n = m;
                continue;
            }
        }
        if (wmax <= o->reproj_threshold || n == o->min_cameras) {
            if (o->refine > 0) {
                refine_point(n, Rt, xn, w, f, o->refine, X);
                sum = 0;
                for (int i = 0; i < n; i++)
                    sum += reproj_norm(Rt[i], &xn[2 * i], X) * f[i];
            }
            err = sum / n;
            for (int i = 0; i < n; i++)
                mask |= 1u << cam[i];
            break;
        }
        /* drop the worst view (swap with the last) */
        n--;
        Rt[worst] = Rt[n];
        xn[2 * worst] = xn[2 * n];
        xn[2 * worst + 1] = xn[2 * n + 1];
        w[worst] = w[n];
        f[worst] = f[n];
        cam[worst] = cam[n];
    }
    /* two views left out of four or more: which two agree is ambiguous (a
     * two-view point reprojects onto both of its views), so no point */
    if (mask && n == 2 && n_usable >= 4) {
        mask = 0;
        err = NAN;
    }
    if (!mask)
        X[0] = X[1] = X[2] = NAN;
    if (err_out)
        *err_out = err;
    if (mask_out)
        *mask_out = mask;
}

void km_triangulate_frame(const km_triangulator *t, int nkp, const double *obs, double *X,
                          double *err, uint32_t *mask)
{
    const double *ptr[KM_GEOM_MAX_CAMERAS];
    for (int k = 0; k < nkp; k++) {
        for (int c = 0; c < t->ncams; c++)
            ptr[c] = obs + ((size_t)c * nkp + k) * 3;
        triangulate_point(t, ptr, X + 3 * k, err ? err + k : NULL, mask ? mask + k : NULL);
    }
}

typedef struct {
    const km_triangulator *t;
    int nkp;
    const double *const *views;
    double *X, *err;
    uint32_t *mask;
} seq_job;

static void seq_range(void *arg, int begin, int end)
{
    const seq_job *j = arg;
    const double *ptr[KM_GEOM_MAX_CAMERAS];
    for (int fr = begin; fr < end; fr++)
        for (int k = 0; k < j->nkp; k++) {
            size_t i = (size_t)fr * j->nkp + k;
            for (int c = 0; c < j->t->ncams; c++)
                ptr[c] = j->views[c] + 3 * i;
            triangulate_point(j->t, ptr, j->X + 3 * i, j->err ? j->err + i : NULL,
                              j->mask ? j->mask + i : NULL);
        }
}

int km_triangulate_sequence(const km_triangulator *t, int nframes, int nkp,
                            const double *const *views, double *X, double *err,
                            uint32_t *mask, km_pool *pool)
{
    if (nframes < 0 || nkp < 1 || nkp > KM_GEOM_MAX_KEYPOINTS)
        return km_seterr(KM_EINVAL, "triangulate: bad sizes (%d frames, %d keypoints)", nframes,
                         nkp);
    seq_job j = {t, nkp, views, X, err, mask};
    if (pool)
        km_pool_parallel_for(pool, nframes, 0, seq_range, &j);
    else
        seq_range(&j, 0, nframes);
    return 0;
}
