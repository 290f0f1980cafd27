/*
 * camera.c - the pinhole camera with OpenCV's 5-parameter distortion:
 * Rodrigues rotations, projection, iterative undistortion, calibration
 * containers.
 *
 * Why here: every other geom module (triangulation, self-calibration,
 * synthesis, file I/O) speaks in these cameras, so their conventions live
 * in one place (see kinema/geom.h: p = R X + t, OpenCV distortion order
 * k1 k2 p1 p2 k3).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/geom.h"
#include "geom/linalg.h"

void km_rodrigues(const double r[3], double R[9])
{
    double th = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
    if (th < 1e-12) {
        /* first order: R = I + [r]x */
        R[0] = 1, R[1] = -r[2], R[2] = r[1];
        R[3] = r[2], R[4] = 1, R[5] = -r[0];
        R[6] = -r[1], R[7] = r[0], R[8] = 1;
        return;
    }
    double k[3] = {r[0] / th, r[1] / th, r[2] / th};
    double c = cos(th), s = sin(th), v = 1 - c;
    R[0] = c + k[0] * k[0] * v;
    R[1] = k[0] * k[1] * v - k[2] * s;
    R[2] = k[0] * k[2] * v + k[1] * s;
    R[3] = k[1] * k[0] * v + k[2] * s;
    R[4] = c + k[1] * k[1] * v;
    R[5] = k[1] * k[2] * v - k[0] * s;
    R[6] = k[2] * k[0] * v - k[1] * s;
    R[7] = k[2] * k[1] * v + k[0] * s;
    R[8] = c + k[2] * k[2] * v;
}

void km_rodrigues_inv(const double R[9], double r[3])
{
    double tr = R[0] + R[4] + R[8];
    double c = (tr - 1) * 0.5;
    if (c > 1)
        c = 1;
    if (c < -1)
        c = -1;
    double th = acos(c);
    double w[3] = {R[7] - R[5], R[2] - R[6], R[3] - R[1]};
    double s2 = v3_norm(w); /* = 2 sin(th) */
    if (th < 1e-7) {
        r[0] = w[0] * 0.5, r[1] = w[1] * 0.5, r[2] = w[2] * 0.5;
        return;
    }
    if (s2 > 1e-6) {
        double f = th / s2;
        r[0] = w[0] * f, r[1] = w[1] * f, r[2] = w[2] * f;
        return;
    }
    /* th near pi: axis from the largest diagonal of (R + I) / 2 */
    double B[9];
    for (int i = 0; i < 9; i++)
        B[i] = (R[i] + (i % 4 == 0 ? 1.0 : 0.0)) * 0.5;
    int k = 0;
    if (B[4] > B[0])
        k = 1;
    if (B[8] > B[4 * k])
        k = 2;
    double ax[3] = {B[3 * k], B[3 * k + 1], B[3 * k + 2]};
    v3_normalize(ax);
    /* sign from the antisymmetric part, if any */
    if (v3_dot(ax, w) < 0)
        v3_scale(ax, -1);
    r[0] = ax[0] * th, r[1] = ax[1] * th, r[2] = ax[2] * th;
}

void km_camera_update(km_camera *c)
{
    km_rodrigues(c->rvec, c->R);
}

void km_camera_center(const km_camera *c, double C[3])
{
    double R[9];
    km_rodrigues(c->rvec, R);
    m3_tmulv(R, c->t, C);
    v3_scale(C, -1);
}

void km_camera_set_pose(km_camera *c, const double R[9], const double C[3])
{
    km_rodrigues_inv(R, c->rvec);
    km_camera_update(c);
    m3_mulv(c->R, C, c->t);
    v3_scale(c->t, -1);
}

void km_distort_normalized(const double d[5], double x, double y, double *xd, double *yd)
{
    double r2 = x * x + y * y;
    double radial = 1 + r2 * (d[0] + r2 * (d[1] + r2 * d[4]));
    *xd = x * radial + 2 * d[2] * x * y + d[3] * (r2 + 2 * x * x);
    *yd = y * radial + d[2] * (r2 + 2 * y * y) + 2 * d[3] * x * y;
}

double km_camera_project(const km_camera *c, const double X[3], double uv[2])
{
    double p[3];
    m3_mulv(c->R, X, p);
    p[0] += c->t[0], p[1] += c->t[1], p[2] += c->t[2];
    double z = p[2];
    double iz = fabs(z) > 1e-12 ? 1.0 / z : 1e12;
    double xd, yd;
    km_distort_normalized(c->dist, p[0] * iz, p[1] * iz, &xd, &yd);
    uv[0] = c->K[0] * xd + c->K[1] * yd + c->K[2];
    uv[1] = c->K[4] * yd + c->K[5];
    return z;
}

void km_camera_undistort_normalized(const km_camera *c, const double uv[2], double xn[2])
{
    double yd = (uv[1] - c->K[5]) / c->K[4];
    double xd = (uv[0] - c->K[2] - c->K[1] * yd) / c->K[0];
    const double *d = c->dist;
    double x = xd, y = yd;
    if (d[0] == 0 && d[1] == 0 && d[2] == 0 && d[3] == 0 && d[4] == 0) {
        xn[0] = x, xn[1] = y;
        return;
    }
    /* Fixed-point iteration x = (xd - tangential(x)) / radial(x), as
     * OpenCV's undistortPoints does; 20 rounds reach 1e-10 for ordinary
     * lenses inside the image. */
    for (int it = 0; it < 20; it++) {
        double r2 = x * x + y * y;
        double radial = 1 + r2 * (d[0] + r2 * (d[1] + r2 * d[4]));
        double dx = 2 * d[2] * x * y + d[3] * (r2 + 2 * x * x);
        double dy = d[2] * (r2 + 2 * y * y) + 2 * d[3] * x * y;
        double nx = (xd - dx) / radial, ny = (yd - dy) / radial;
        double ch = fabs(nx - x) + fabs(ny - y);
        x = nx, y = ny;
        if (ch < 1e-12)
            break;
    }
    xn[0] = x, xn[1] = y;
}

void km_camera_undistort_pixel(const km_camera *c, const double uv[2], double out[2])
{
    double xn[2];
    km_camera_undistort_normalized(c, uv, xn);
    out[0] = c->K[0] * xn[0] + c->K[1] * xn[1] + c->K[2];
    out[1] = c->K[4] * xn[1] + c->K[5];
}

int km_calib_alloc(km_calib *c, int n)
{
    memset(c, 0, sizeof *c);
    if (n < 1 || n > KM_GEOM_MAX_CAMERAS)
        return km_seterr(KM_ERANGE, "camera count %d outside 1..%d", n, KM_GEOM_MAX_CAMERAS);
    c->cams = calloc((size_t)n, sizeof *c->cams);
    if (!c->cams)
        return km_seterr(KM_ENOMEM, "out of memory for %d cameras", n);
    c->ncams = n;
    for (int i = 0; i < n; i++) {
        km_camera *k = &c->cams[i];
        snprintf(k->name, sizeof k->name, "cam_%d", i + 1);
        k->K[0] = k->K[4] = k->K[8] = 1;
        km_camera_update(k);
    }
    return 0;
}

void km_calib_free(km_calib *c)
{
    if (!c)
        return;
    free(c->cams);
    c->cams = NULL;
    c->ncams = 0;
}

double km_mpjpe(int n, const double *a, const double *b, int *count)
{
    double sum = 0;
    int m = 0;
    for (int i = 0; i < n; i++) {
        const double *p = a + 3 * i, *q = b + 3 * i;
        if (!isfinite(p[0]) || !isfinite(q[0]) || !isfinite(p[1]) || !isfinite(q[1]) ||
            !isfinite(p[2]) || !isfinite(q[2]))
            continue;
        sum += v3_dist(p, q);
        m++;
    }
    if (count)
        *count = m;
    return m ? sum / m : NAN;
}
