/*
 * calibrate.c - self-calibration of camera extrinsics from people's 2D
 * keypoints over time (intrinsics known): the calibration board replaced by
 * the subject.
 *
 * Pipeline:
 *   1. every observation is undistorted to normalized coordinates;
 *   2. per camera pair, the essential matrix by the normalized 8-point
 *      algorithm inside RANSAC (Sampson distance), refit on the inliers,
 *      decomposed into (R, t) by cheirality;
 *   3. chaining: the pair with most inliers fixes the frame; every other
 *      camera takes its rotation from its best registered partner and its
 *      translation from the points triangulated so far (linear, robust);
 *   4. bundle adjustment (Levenberg-Marquardt, Huber loss by IRLS) over
 *      all camera poses and 3D points, exploiting sparsity: per-point 3x3
 *      blocks are eliminated by the Schur complement, leaving a dense
 *      6(n-1) system for the cameras (the first camera fixes the gauge);
 *   5. world frame: up from the floor contacts (plane of the lowest foot
 *      points) when the subject walks about, else the feet-to-shoulders
 *      axis of the most extended (standing) frames; metric scale from the
 *      subject's height or a segment length; floor at z = 0.
 * Steps 2 and 4 live in essential.c and bundle.c; this file drives them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "kinema/geom.h"
#include "geom/linalg.h"
#include "geom/selfcal.h"

void km_selfcal_opts_default(km_selfcal_opts *o)
{
    memset(o, 0, sizeof *o);
    o->min_score = 0.5;
    o->ransac_px = 4.0;
    o->ransac_iters = 1000;
    o->huber_px = 2.0;
    o->ba_iters = 50;
    o->seed = 1;
}

/* Observations of every (frame, keypoint) point in every camera. */
static void obs_free(obsdata *o)
{
    for (int c = 0; c < o->C; c++) {
        free(o->xn[c]);
        free(o->ok[c]);
    }
}

static int obs_init(obsdata *o, const km_calib *cal, int F, int K, const double *const *views,
                    double min_score)
{
    memset(o, 0, sizeof *o);
    o->C = cal->ncams, o->F = F, o->K = K, o->N = (size_t)F * K;
    for (int c = 0; c < o->C; c++) {
        o->xn[c] = malloc(o->N * 2 * sizeof(double) + 1);
        o->ok[c] = calloc(o->N + 1, 1);
        if (!o->xn[c] || !o->ok[c]) {
            obs_free(o);
            return km_seterr(KM_ENOMEM, "calibrate: out of memory");
        }
        const km_camera *cam = &cal->cams[c];
        o->px[c] = (double *)views[c];
        o->focal[c] = 0.5 * (cam->K[0] + cam->K[4]);
        for (size_t i = 0; i < o->N; i++) {
            const double *p = views[c] + 3 * i;
            if (!(p[2] >= min_score) || !isfinite(p[0]) || !isfinite(p[1]))
                continue;
            km_camera_undistort_normalized(cam, p, o->xn[c] + 2 * i);
            o->ok[c][i] = 1;
        }
    }
    return 0;
}

/* --------------------------------------------------------- triangulation */

/* Robust point from the cameras in `use`: drop the worst view while the
 * error exceeds thr_px. Returns the views used (0: X = NaN). */
static int tri_point(const obsdata *o, const poses *ps, uint32_t use, size_t p, double thr_px,
                     double X[3])
{
    double Rt[KM_GEOM_MAX_CAMERAS][12], xn[2 * KM_GEOM_MAX_CAMERAS], w[KM_GEOM_MAX_CAMERAS];
    const double *P[KM_GEOM_MAX_CAMERAS];
    int cam[KM_GEOM_MAX_CAMERAS], n = 0;
    for (int c = 0; c < o->C; c++) {
        if (!(use >> c & 1) || !o->ok[c][p])
            continue;
        for (int r = 0; r < 3; r++) {
            memcpy(&Rt[n][4 * r], &ps->R[c][3 * r], 3 * sizeof(double));
            Rt[n][4 * r + 3] = ps->t[c][r];
        }
        P[n] = Rt[n];
        xn[2 * n] = o->xn[c][2 * p], xn[2 * n + 1] = o->xn[c][2 * p + 1];
        w[n] = 1;
        cam[n] = c;
        n++;
    }
    X[0] = X[1] = X[2] = NAN;
    while (n >= 2) {
        if (km_triangulate_normalized(n, P, xn, w, X) != 0)
            break;
        int worst = 0;
        double emax = -1;
        for (int k = 0; k < n; k++) {
            const double *M = P[k];
            double z = M[8] * X[0] + M[9] * X[1] + M[10] * X[2] + M[11];
            double x = (M[0] * X[0] + M[1] * X[1] + M[2] * X[2] + M[3]) / z;
            double y = (M[4] * X[0] + M[5] * X[1] + M[6] * X[2] + M[7]) / z;
            double e = z > 0 ? hypot(x - xn[2 * k], y - xn[2 * k + 1]) * o->focal[cam[k]] : 1e9;
            if (e > emax)
                emax = e, worst = k;
        }
        if (emax <= thr_px)
            return n;
        n--;
        P[worst] = P[n];
        xn[2 * worst] = xn[2 * n], xn[2 * worst + 1] = xn[2 * n + 1];
        cam[worst] = cam[n];
    }
    X[0] = X[1] = X[2] = NAN;
    return 0;
}

/* Reprojection error (px) of point p, X[3p..3p+2], in camera c under the
 * poses ps; INFINITY when the point is behind the camera. */
static double reproj_px(const obsdata *o, const poses *ps, const double *X, int c, size_t p)
{
    double q[3];
    m3_mulv(ps->R[c], X + 3 * p, q);
    for (int d = 0; d < 3; d++)
        q[d] += ps->t[c][d];
    return q[2] > 0 ? hypot(q[0] / q[2] - o->xn[c][2 * p], q[1] / q[2] - o->xn[c][2 * p + 1]) *
                          o->focal[c]
                    : INFINITY;
}

static void tri_all(const obsdata *o, const poses *ps, uint32_t use, double thr_px, double *X)
{
    for (size_t p = 0; p < o->N; p++)
        tri_point(o, ps, use, p, thr_px, X + 3 * p);
}

/* Translation of camera c with known rotation from triangulated points:
 * x ~ R X + t is linear in t. Robust by re-solving without the points
 * whose error exceeds max(thr, 3 x median). */
static int solve_translation(const obsdata *o, poses *ps, int c, const double *X, double thr_px)
{
    double *err = malloc(o->N * sizeof *err + 1);
    if (!err)
        return km_seterr(KM_ENOMEM, "calibrate: out of memory");
    double cut = INFINITY;
    int ok = -1;
    for (int round = 0; round < 5; round++) {
        double A[9] = {0}, b[3] = {0};
        int m = 0;
        for (size_t p = 0; p < o->N; p++) {
            if (!o->ok[c][p] || !isfinite(X[3 * p]))
                continue;
            if (round > 0 && !(err[p] <= cut))
                continue;
            double q[3];
            m3_mulv(ps->R[c], X + 3 * p, q);
            double x = o->xn[c][2 * p], y = o->xn[c][2 * p + 1];
            double r1[3] = {1, 0, -x}, r2[3] = {0, 1, -y};
            double b1 = x * q[2] - q[0], b2 = y * q[2] - q[1];
            for (int u = 0; u < 3; u++) {
                for (int v = 0; v < 3; v++)
                    A[3 * u + v] += r1[u] * r1[v] + r2[u] * r2[v];
                b[u] += r1[u] * b1 + r2[u] * b2;
            }
            m++;
        }
        if (m < 6 || m3_solve(A, b, ps->t[c]) != 0)
            break;
        ok = 0;
        /* errors for the next round */
        double *tmp = malloc(o->N * sizeof *tmp + 1);
        int nt = 0;
        for (size_t p = 0; p < o->N; p++) {
            err[p] = INFINITY;
            if (!o->ok[c][p] || !isfinite(X[3 * p]))
                continue;
            err[p] = reproj_px(o, ps, X, c, p);
            if (tmp && isfinite(err[p]))
                tmp[nt++] = err[p];
        }
        double med = INFINITY;
        if (tmp && nt > 0) {
            /* median by partial selection (nth element, simple quickselect) */
            int lo = 0, hi = nt - 1, k = nt / 2;
            while (lo < hi) {
                double piv = tmp[(lo + hi) / 2];
                int i = lo, j = hi;
                while (i <= j) {
                    while (tmp[i] < piv)
                        i++;
                    while (tmp[j] > piv)
                        j--;
                    if (i <= j) {
                        double s = tmp[i];
                        tmp[i] = tmp[j], tmp[j] = s;
                        i++, j--;
                    }
                }
                if (k <= j)
                    hi = j;
                else if (k >= i)
                    lo = i;
                else
                    break;
            }
            med = tmp[k];
        }
        free(tmp);
        cut = fmax(thr_px, 3 * med);
    }
    free(err);
    return ok == 0 ? 0 : km_seterr(KM_EFORMAT, "calibrate: camera %d shares too few "
                                               "triangulated keypoints to be placed", c);
}

/* ------------------------------------------------------------ chaining */

static void pair_get(const pair_pose *pp, int C, int i, int j, double R[9], double t[3])
{
    /* pose of j relative to i: x_j = R x_i + t */
    if (i < j) {
        memcpy(R, pp[i * C + j].R, 9 * sizeof(double));
        memcpy(t, pp[i * C + j].t, 3 * sizeof(double));
    } else {
        const pair_pose *q = &pp[j * C + i];
        m3_transpose(q->R, R);
        m3_mulv(R, q->t, t);
        v3_scale(t, -1);
    }
}

static int pair_inliers(const pair_pose *pp, int C, int i, int j)
{
    const pair_pose *q = i < j ? &pp[i * C + j] : &pp[j * C + i];
    return q->valid ? q->inliers : 0;
}

static int chain_cameras(const obsdata *o, const pair_pose *pp, const km_selfcal_opts *opt,
                         poses *ps, double *X, int *ref_out)
{
    int C = o->C, a = -1, bcam = -1, best = 0;
    for (int i = 0; i < C; i++)
        for (int j = i + 1; j < C; j++)
            if (pair_inliers(pp, C, i, j) > best)
                best = pair_inliers(pp, C, i, j), a = i, bcam = j;
    if (a < 0)
        return km_seterr(KM_EFORMAT, "calibrate: no camera pair shares enough keypoints "
                                     "(need %d consistent observations)",
                         MIN_PAIR_POINTS);
    uint32_t reg = 1u << a | 1u << bcam;
    m3_identity(ps->R[a]);
    memset(ps->t[a], 0, sizeof ps->t[a]);
    pair_get(pp, C, a, bcam, ps->R[bcam], ps->t[bcam]);
    double thr = 4 * opt->ransac_px;
    for (int nreg = 2; nreg < C; nreg++) {
        tri_all(o, ps, reg, thr, X);
        int next = -1, partner = -1;
        best = 0;
        for (int j = 0; j < C; j++) {
            if (reg >> j & 1)
                continue;
            for (int i = 0; i < C; i++)
                if ((reg >> i & 1) && pair_inliers(pp, C, i, j) > best)
                    best = pair_inliers(pp, C, i, j), next = j, partner = i;
        }
        if (next < 0)
            return km_seterr(KM_EFORMAT, "calibrate: %d camera(s) share too few keypoints with "
                                         "the others to be placed",
                             C - nreg);
        double Rij[9], tij[3];
        pair_get(pp, C, partner, next, Rij, tij);
        m3_mul(Rij, ps->R[partner], ps->R[next]);
        int rc = solve_translation(o, ps, next, X, thr);
        if (rc)
            return rc;
        reg |= 1u << next;
    }
    tri_all(o, ps, reg, thr, X);
    *ref_out = a;
    return 0;
}

/* ---------------------------------------------------------- world frame */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(double *v, int n, double q)
{
    if (n <= 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int i = (int)(q * (n - 1) + 0.5);
    return v[i];
}

typedef struct {
    int eye[2], foot[4], nfoot, hip[2], sh[2];
    double foot_h; /* height of the foot points above the floor, x stature */
} body_idx;

static int body_indices(km_skeleton s, body_idx *b)
{
    b->eye[0] = km_skeleton_find(s, "left_eye");
    b->eye[1] = km_skeleton_find(s, "right_eye");
    b->hip[0] = km_skeleton_find(s, "left_hip");
    b->hip[1] = km_skeleton_find(s, "right_hip");
    b->sh[0] = km_skeleton_find(s, "left_shoulder");
    b->sh[1] = km_skeleton_find(s, "right_shoulder");
    if (s == KM_SKEL_BLAZEPOSE33) {
        const char *f[4] = {"left_heel", "right_heel", "left_foot_index", "right_foot_index"};
        for (int i = 0; i < 4; i++)
            b->foot[i] = km_skeleton_find(s, f[i]);
        b->nfoot = 4;
        b->foot_h = 0;
    } else {
        b->foot[0] = km_skeleton_find(s, "left_ankle");
        b->foot[1] = km_skeleton_find(s, "right_ankle");
        b->nfoot = 2;
        b->foot_h = 0.039;
    }
    for (int i = 0; i < 2; i++)
        if (b->eye[i] < 0 || b->hip[i] < 0 || b->sh[i] < 0)
            return -1;
    for (int i = 0; i < b->nfoot; i++)
        if (b->foot[i] < 0)
            return -1;
    return 0;
}

static const double *kp_at(const double *X, int K, int f, int k)
{
    return X + ((size_t)f * K + k) * 3;
}

/* Body axis of frame f: mid-shoulder minus the mean of the foot points
 * (NaN if any is missing). */
static void body_axis(const double *X, int K, int f, const body_idx *bi, double v[3])
{
    const double *s0 = kp_at(X, K, f, bi->sh[0]), *s1 = kp_at(X, K, f, bi->sh[1]);
    for (int d = 0; d < 3; d++) {
        double foot = 0;
        for (int i = 0; i < bi->nfoot; i++)
            foot += kp_at(X, K, f, bi->foot[i])[d] / bi->nfoot;
        v[d] = 0.5 * (s0[d] + s1[d]) - foot;
    }
}

/* Up direction: the mean body axis (feet to shoulders) over the frames
 * where the body is most extended (standing: this ignores sitting and
 * leaning phases), refined by the plane of the lowest foot point of each
 * frame when those spread over the floor (walking). */
static int estimate_up(const double *X, int F, int K, const body_idx *bi, double up[3])
{
    double acc[3] = {0};
    double *len = malloc((size_t)(F > 0 ? F : 1) * sizeof *len);
    if (!len)
        return -1;
    int nl = 0;
    for (int f = 0; f < F; f++) {
        double v[3];
        body_axis(X, K, f, bi, v);
        if (isfinite(v[0]) && isfinite(v[1]) && isfinite(v[2]))
            len[nl++] = v3_norm(v);
    }
    double cut = nl > 0 ? percentile(len, nl, 0.8) : INFINITY;
    free(len);
    for (int f = 0; f < F; f++) {
        double v[3];
        body_axis(X, K, f, bi, v);
        if (isfinite(v[0]) && isfinite(v[1]) && isfinite(v[2]) && v3_norm(v) >= cut &&
            v3_normalize(v) > 0)
            for (int d = 0; d < 3; d++)
                acc[d] += v[d];
    }
    if (v3_normalize(acc) == 0)
        return -1;
    memcpy(up, acc, sizeof acc);
    /* floor contacts */
    double mean[3] = {0}, M[9] = {0};
    int n = 0;
    double *pts = malloc((size_t)(F > 0 ? F : 1) * 3 * sizeof *pts);
    if (!pts)
        return 0;
    for (int f = 0; f < F; f++) {
        const double *low = NULL;
        double lh = INFINITY;
        for (int i = 0; i < bi->nfoot; i++) {
            const double *p = kp_at(X, K, f, bi->foot[i]);
            if (isfinite(p[0]) && v3_dot(p, up) < lh)
                lh = v3_dot(p, up), low = p;
        }
        if (low) {
            memcpy(pts + 3 * n, low, 3 * sizeof(double));
            for (int d = 0; d < 3; d++)
                mean[d] += low[d];
            n++;
        }
    }
    if (n >= 20) {
        for (int d = 0; d < 3; d++)
            mean[d] /= n;
        for (int i = 0; i < n; i++)
            for (int r = 0; r < 3; r++)
                for (int c = 0; c < 3; c++)
                    M[3 * r + c] += (pts[3 * i + r] - mean[r]) * (pts[3 * i + c] - mean[c]) / n;
        double w[3];
        if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', 3, M, 3, w) == 0 && w[1] > 25 * w[0]) {
            double nrm[3] = {M[0], M[3], M[6]};
            if (v3_dot(nrm, up) < 0)
                v3_scale(nrm, -1);
            /* trust the floor plane only if it agrees with the torso */
            if (v3_dot(nrm, up) > cos(25 * M_PI / 180))
                memcpy(up, nrm, sizeof nrm);
        }
    }
    free(pts);
    return 0;
}

/* Apply x_new = s Rw x_old + T to cameras (poses) and points. */
static void apply_similarity(int C, poses *ps, double *X, size_t N, double s, const double Rw[9],
                             const double T[3])
{
    for (int c = 0; c < C; c++) {
        double Rn[9], RT[3];
        m3_mult(ps->R[c], Rw, Rn); /* R Rw^T */
        m3_mulv(Rn, T, RT);
        for (int d = 0; d < 3; d++)
            ps->t[c][d] = s * ps->t[c][d] - RT[d];
        memcpy(ps->R[c], Rn, sizeof Rn);
    }
    for (size_t i = 0; i < N; i++) {
        double *p = X + 3 * i, q[3];
        if (!isfinite(p[0]))
            continue;
        m3_mulv(Rw, p, q);
        for (int d = 0; d < 3; d++)
            p[d] = s * q[d] + T[d];
    }
}

static int world_frame(const obsdata *o, km_skeleton skel, const km_selfcal_opts *opt, int ref,
                       poses *ps, double *X, km_selfcal_report *rep)
{
    int F = o->F, K = o->K;
    body_idx bi;
    if (body_indices(skel, &bi) != 0)
        return km_seterr(KM_EINVAL, "calibrate: skeleton lacks eyes, hips, shoulders or feet");
    double up[3];
    if (estimate_up(X, F, K, &bi, up) != 0)
        return km_seterr(KM_EFORMAT, "calibrate: no frame with hips and shoulders to find up");
    /* rotation taking up to +z, x along the reference camera's view */
    double Rw[9], ez[3] = {up[0], up[1], up[2]}, view[3] = {ps->R[ref][6], ps->R[ref][7],
                                                             ps->R[ref][8]};
    double ex[3], ey[3], pr = v3_dot(view, ez);
    for (int d = 0; d < 3; d++)
        ex[d] = view[d] - pr * ez[d];
    if (v3_normalize(ex) < 1e-6)
        ex[0] = 1, ex[1] = ex[2] = 0;
    v3_cross(ez, ex, ey);
    for (int d = 0; d < 3; d++)
        Rw[d] = ex[d], Rw[3 + d] = ey[d], Rw[6 + d] = ez[d];
    double zero[3] = {0};
    apply_similarity(o->C, ps, X, o->N, 1.0, Rw, zero);
    /* per-frame floor (lowest foot point) and eye height above it */
    double *low = malloc((size_t)(F > 0 ? F : 1) * sizeof *low);
    double *eye = malloc((size_t)(F > 0 ? F : 1) * sizeof *eye);
    double *seg = malloc((size_t)(F > 0 ? F : 1) * sizeof *seg);
    if (!low || !eye || !seg) {
        free(low), free(eye), free(seg);
        return km_seterr(KM_ENOMEM, "calibrate: out of memory");
    }
    int nl = 0, ne = 0, ns = 0;
    int sa = opt->seg_a ? km_skeleton_find(skel, opt->seg_a) : -1;
    int sb = opt->seg_b ? km_skeleton_find(skel, opt->seg_b) : -1;
    for (int f = 0; f < F; f++) {
        double lz = INFINITY;
        for (int i = 0; i < bi.nfoot; i++) {
            const double *p = kp_at(X, K, f, bi.foot[i]);
            if (isfinite(p[2]))
                lz = fmin(lz, p[2]);
        }
        if (!isfinite(lz))
            continue;
        low[nl++] = lz;
        const double *e0 = kp_at(X, K, f, bi.eye[0]), *e1 = kp_at(X, K, f, bi.eye[1]);
        if (isfinite(e0[2]) && isfinite(e1[2]))
            eye[ne++] = 0.5 * (e0[2] + e1[2]) - lz;
        if (sa >= 0 && sb >= 0) {
            double dd = v3_dist(kp_at(X, K, f, sa), kp_at(X, K, f, sb));
            if (isfinite(dd))
                seg[ns++] = dd;
        }
    }
    double s = 1.0, Hrec = ne > 0 ? percentile(eye, ne, 0.9) / (0.936 - bi.foot_h) : NAN;
    int rc = 0;
    if (opt->seg_length > 0) {
        if (sa < 0 || sb < 0 || ns == 0)
            rc = km_seterr(KM_EINVAL, "calibrate: segment %s-%s not found or never seen",
                           opt->seg_a ? opt->seg_a : "?", opt->seg_b ? opt->seg_b : "?");
        else
            s = opt->seg_length / percentile(seg, ns, 0.5);
    } else if (opt->subject_height > 0) {
        if (!(Hrec > 0))
            rc = km_seterr(KM_EFORMAT, "calibrate: eyes and feet never seen together; cannot "
                                       "estimate the subject's height");
        else
            s = opt->subject_height / Hrec;
    }
    /* some heel or toe touches the floor in every frame (median of the
     * per-frame minima); an ankle is at its standing height only while its
     * foot is flat (a low percentile) */
    double floor_z = nl > 0 ? percentile(low, nl, bi.foot_h > 0 ? 0.1 : 0.5) : 0;
    free(low), free(eye), free(seg);
    if (rc)
        return rc;
    /* scale, floor to z = 0 (foot points sit foot_h x stature above it),
     * horizontal origin at the mean hip position */
    double mx = 0, my = 0;
    int nh = 0;
    for (int f = 0; f < F; f++) {
        const double *h0 = kp_at(X, K, f, bi.hip[0]), *h1 = kp_at(X, K, f, bi.hip[1]);
        if (isfinite(h0[0]) && isfinite(h1[0]))
            mx += 0.5 * (h0[0] + h1[0]), my += 0.5 * (h0[1] + h1[1]), nh++;
    }
    double Hm = isfinite(Hrec) ? Hrec : 0;
    double T[3] = {nh ? -s * mx / nh : 0, nh ? -s * my / nh : 0,
                   -s * (floor_z - bi.foot_h * Hm)};
    double I3[9];
    m3_identity(I3);
    apply_similarity(o->C, ps, X, o->N, s, I3, T);
    rep->scale = s;
    rep->height_est = isfinite(Hrec) ? Hrec * s : 0;
    return 0;
}

/* Mark observations farther than thr_px from their point's projection
 * as unusable (outliers seen by the robust triangulation). */
static void drop_outliers(obsdata *o, const poses *ps, const double *X, double thr_px)
{
    for (int c = 0; c < o->C; c++)
        for (size_t p = 0; p < o->N; p++) {
            if (!o->ok[c][p] || !isfinite(X[3 * p]))
                continue;
            if (!(reproj_px(o, ps, X, c, p) <= thr_px))
                o->ok[c][p] = 0;
        }
}

/* ------------------------------------------------------------- reporting */

static void report_rms(const obsdata *o, const km_calib *cal, const double *X, double huber,
                       km_selfcal_report *rep)
{
    double sum_all = 0;
    int n_all = 0;
    for (int c = 0; c < o->C; c++) {
        double sum = 0;
        int n = 0;
        for (size_t p = 0; p < o->N; p++) {
            if (!o->ok[c][p] || !isfinite(X[3 * p]))
                continue;
            double uv[2];
            if (km_camera_project(&cal->cams[c], X + 3 * p, uv) <= 0)
                continue;
            double dx = uv[0] - o->px[c][3 * p], dy = uv[1] - o->px[c][3 * p + 1];
            double e2 = dx * dx + dy * dy;
            if (e2 > 25 * huber * huber)
                continue; /* outliers are reported by count, not in the RMS */
            sum += e2, n++;
        }
        rep->rms_px[c] = n ? sqrt(sum / n) : NAN;
        rep->nobs[c] = n;
        sum_all += sum, n_all += n;
    }
    rep->rms_all_px = n_all ? sqrt(sum_all / n_all) : NAN;
}

int km_selfcal(km_calib *cal, km_skeleton skel, int F, const double *const *views,
               const km_selfcal_opts *opt_in, km_selfcal_report *rep_out)
{
    km_selfcal_opts opt;
    if (opt_in)
        opt = *opt_in;
    else
        km_selfcal_opts_default(&opt);
    km_selfcal_report rep;
    memset(&rep, 0, sizeof rep);
    int K = km_skeleton_count(skel);
    if (!cal || cal->ncams < 2 || cal->ncams > KM_GEOM_MAX_CAMERAS)
        return km_seterr(KM_EINVAL, "calibrate: need 2..%d cameras", KM_GEOM_MAX_CAMERAS);
    if (K <= 0 || F < 1 || F > KM_GEOM_MAX_FRAMES)
        return km_seterr(KM_EINVAL, "calibrate: bad skeleton or frame count (%d)", F);
    obsdata o;
    int rc = obs_init(&o, cal, F, K, views, opt.min_score);
    if (rc)
        return rc;
    int C = cal->ncams;
    pair_pose *pp = calloc((size_t)C * C, sizeof *pp);
    double *X = malloc(o.N * 3 * sizeof *X + 1);
    poses *ps = calloc(1, sizeof *ps);
    if (!pp || !X || !ps)
        rc = km_seterr(KM_ENOMEM, "calibrate: out of memory");
    km_rng rng;
    km_rng_seed(&rng, opt.seed);
    for (int i = 0; !rc && i < C; i++)
        for (int j = i + 1; !rc && j < C; j++)
            rc = geom_pair_estimate(&o, i, j, &opt, &rng, &pp[i * C + j]);
    int ref = 0;
    if (!rc)
        rc = chain_cameras(&o, pp, &opt, ps, X, &ref);
    /* two rounds: BA, re-triangulate robustly and drop the observations
     * that disagree with their point (outliers), BA again */
    for (int round = 0; !rc && round < 2; round++) {
        rc = geom_bundle_adjust(&o, ps, ref, X, opt.huber_px, opt.ba_iters, &rep.ba_iterations);
        if (!rc)
            tri_all(&o, ps, (uint32_t)((1ull << C) - 1), 4 * opt.huber_px, X);
        if (!rc && round == 0)
            drop_outliers(&o, ps, X, 4 * opt.huber_px);
    }
    if (!rc)
        rc = world_frame(&o, skel, &opt, ref, ps, X, &rep);
    if (!rc) {
        for (int c = 0; c < C; c++) {
            km_rodrigues_inv(ps->R[c], cal->cams[c].rvec);
            memcpy(cal->cams[c].t, ps->t[c], sizeof ps->t[c]);
            km_camera_update(&cal->cams[c]);
        }
        rep.ncams = C;
        for (size_t p = 0; p < o.N; p++)
            rep.npoints += isfinite(X[3 * p]);
        report_rms(&o, cal, X, opt.huber_px, &rep);
        if (rep_out)
            *rep_out = rep;
    }
    free(pp);
    free(X);
    free(ps);
    obs_free(&o);
    return rc;
}
