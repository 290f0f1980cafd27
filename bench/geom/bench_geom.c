/*
 * bench_geom.c - the multi-camera geometry numbers of issue 4 on seeded
 * synthetic rigs (kinema synth):
 *   1. triangulation accuracy: MPJPE and per-axis error vs ground truth by
 *      camera count, noise and outliers;
 *   2. triangulation speed: frames/s on one core, 33 keypoints, by camera
 *      count (2..16);
 *   3. self-calibration from 30 s of walking: camera centre and rotation
 *      error after similarity alignment, MPJPE with the estimated vs the
 *      true calibration, by camera count (2, 4, 8, 16).
 * Usage: bench_geom [--quick]   (--quick: fewer frames, for smoke runs)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/geom.h"

static int quick;

static int rig(km_synth *s, int ncams, int frames, double noise, double outliers,
               uint64_t seed)
{
    km_synth_opts o;
    km_synth_opts_default(&o);
    o.ncams = ncams, o.nframes = frames, o.noise_px = noise, o.outliers = outliers;
    o.seed = seed;
    if (km_synth_generate(&o, s)) {
        fprintf(stderr, "synth: %s\n", km_errmsg());
        return -1;
    }
    return 0;
}

static void views_of(const km_synth *s, const double **v)
{
    for (int c = 0; c < s->calib.ncams; c++)
        v[c] = s->views[c].kp;
}

static void triangulate(const km_calib *cal, const km_synth *s, double *X)
{
    km_triangulator *t;
    const double *v[KM_GEOM_MAX_CAMERAS];
    views_of(s, v);
    if (km_triangulator_create(cal, NULL, &t) == 0) {
        km_triangulate_sequence(t, s->nframes, s->nkp, v, X, NULL, NULL, NULL);
        km_triangulator_free(t);
    }
}

static void accuracy(void)
{
    printf("\n## Triangulation accuracy (BlazePose-33, walking, %d frames, default options)\n\n",
           quick ? 100 : 300);
    printf("Ambiguous points (only two of four or more views agree) are left out, then "
           "filled by\nlinear interpolation (gaps up to 10 frames) as `kinema triangulate` "
           "does by default.\n\n");
    printf("| cameras | noise px | outliers | MPJPE mm | |dx| mm | |dy| mm | |dz| mm | "
           "triangulated | MPJPE after gap fill mm | points after fill |\n"
           "|---|---|---|---|---|---|---|---|---|---|\n");
    const struct {
        int cams;
        double noise, out;
    } cfg[] = {{2, 2, 0}, {4, 1, 0}, {4, 2, 0}, {4, 2, 0.10}, {8, 2, 0.10}, {16, 2, 0.10}};
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        km_synth s;
        if (rig(&s, cfg[i].cams, quick ? 100 : 300, cfg[i].noise, cfg[i].out, 1))
            return;
        size_t n = (size_t)s.nframes * s.nkp;
        double *X = malloc(n * 3 * sizeof *X), ax[3] = {0};
        triangulate(&s.calib, &s, X);
        int cnt;
        double m = km_mpjpe((int)n, X, s.gt, &cnt);
        for (size_t k = 0; k < n; k++)
            if (isfinite(X[3 * k]))
                for (int d = 0; d < 3; d++)
                    ax[d] += fabs(X[3 * k + d] - s.gt[3 * k + d]);
        km_fill_gaps(X, s.nframes, s.nkp, 10);
        int cnt_f;
        double mf = km_mpjpe((int)n, X, s.gt, &cnt_f);
        printf("| %d | %.1f | %.0f%% | %.2f | %.2f | %.2f | %.2f | %.1f%% | %.2f | %.1f%% |\n",
               cfg[i].cams, cfg[i].noise, 100 * cfg[i].out, 1000 * m, 1000 * ax[0] / cnt,
               1000 * ax[1] / cnt, 1000 * ax[2] / cnt, 100.0 * cnt / n, 1000 * mf,
               100.0 * cnt_f / n);
        free(X);
        km_synth_free(&s);
    }
}

static void speed(void)
{
    printf("\n## Triangulation speed (one core, 33 keypoints, sigma 2 px, 10%% outliers)\n\n");
    printf("| cameras | frames/s | us/frame | us/frame/camera |\n|---|---|---|---|\n");
    const int cams[] = {2, 4, 8, 12, 16};
    for (int i = 0; i < 5; i++) {
        km_synth s;
        if (rig(&s, cams[i], 300, 2.0, 0.10, 2))
            return;
        size_t n = (size_t)s.nframes * s.nkp;
        double *X = malloc(n * 3 * sizeof *X);
        km_triangulator *t;
        const double *v[KM_GEOM_MAX_CAMERAS];
        views_of(&s, v);
        km_triangulator_create(&s.calib, NULL, &t);
        double t0 = km_now_s(), el = 0;
        long frames = 0;
        do {
            km_triangulate_sequence(t, s.nframes, s.nkp, v, X, NULL, NULL, NULL);
            frames += s.nframes;
            el = km_now_s() - t0;
        } while (el < (quick ? 0.1 : 1.0));
        double fps = frames / el;
        printf("| %d | %.0f | %.1f | %.2f |\n", cams[i], fps, 1e6 / fps, 1e6 / fps / cams[i]);
        km_triangulator_free(t);
        free(X);
        km_synth_free(&s);
    }
}

static void apply_sim(double s, const double R[9], const double T[3], const double *p, double *q)
{
    for (int r = 0; r < 3; r++)
        q[r] = s * (R[3 * r] * p[0] + R[3 * r + 1] * p[1] + R[3 * r + 2] * p[2]) + T[r];
}

static double rot_angle_deg(const double A[9], const double B[9], const double R[9])
{
    /* angle of A R^T B^T */
    double M[9], D[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            M[3 * i + j] = 0;
            for (int k = 0; k < 3; k++)
                M[3 * i + j] += A[3 * i + k] * R[3 * j + k];
        }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            D[3 * i + j] = 0;
            for (int k = 0; k < 3; k++)
                D[3 * i + j] += M[3 * i + k] * B[3 * j + k];
        }
    return acos(fmin(1, (D[0] + D[4] + D[8] - 1) / 2)) * 180 / M_PI;
}

static void selfcal_row(int ncams, int frames, double noise, double outliers)
{
    km_synth s;
    if (rig(&s, ncams, frames, noise, outliers, 1))
        return;
    km_calib est;
    km_calib_alloc(&est, ncams);
    for (int c = 0; c < ncams; c++) {
        est.cams[c] = s.calib.cams[c];
        memset(est.cams[c].rvec, 0, sizeof est.cams[c].rvec);
        memset(est.cams[c].t, 0, sizeof est.cams[c].t);
        km_camera_update(&est.cams[c]);
    }
    km_selfcal_opts so;
    km_selfcal_opts_default(&so);
    so.subject_height = s.height;
    km_selfcal_report rep;
    const double *v[KM_GEOM_MAX_CAMERAS];
    views_of(&s, v);
    double t0 = km_now_s();
    if (km_selfcal(&est, s.skel, s.nframes, v, &so, &rep)) {
        printf("| %d | %.0f | %.0f%% | failed: %s |\n", ncams, noise, 100 * outliers, km_errmsg());
        km_calib_free(&est);
        km_synth_free(&s);
        return;
    }
    double secs = km_now_s() - t0;
    size_t n = (size_t)s.nframes * s.nkp;
    double *Xt = malloc(n * 3 * sizeof *Xt), *Xe = malloc(n * 3 * sizeof *Xe);
    triangulate(&s.calib, &s, Xt);
    triangulate(&est, &s, Xe);
    double mt = km_mpjpe((int)n, Xt, s.gt, NULL);
    double sc, R[9], T[3];
    km_similarity_fit((int)n, Xe, s.gt, &sc, R, T);
    for (size_t i = 0; i < n; i++) {
        double q[3];
        apply_sim(sc, R, T, Xe + 3 * i, q);
        memcpy(Xe + 3 * i, q, sizeof q);
    }
    double me = km_mpjpe((int)n, Xe, s.gt, NULL), scale_err = fabs(sc - 1);
    double ce[3 * KM_GEOM_MAX_CAMERAS], ct[3 * KM_GEOM_MAX_CAMERAS];
    for (int c = 0; c < ncams; c++) {
        km_camera_center(&est.cams[c], ce + 3 * c);
        km_camera_center(&s.calib.cams[c], ct + 3 * c);
    }
    if (ncams >= 3)
        km_similarity_fit(ncams, ce, ct, &sc, R, T);
    double cmax = 0, csum = 0, rmax = 0;
    for (int c = 0; c < ncams; c++) {
        double q[3], Re[9], Rt[9];
        apply_sim(sc, R, T, ce + 3 * c, q);
        double d = sqrt((q[0] - ct[3 * c]) * (q[0] - ct[3 * c]) +
                        (q[1] - ct[3 * c + 1]) * (q[1] - ct[3 * c + 1]) +
                        (q[2] - ct[3 * c + 2]) * (q[2] - ct[3 * c + 2]));
        cmax = fmax(cmax, d), csum += d;
        km_rodrigues(est.cams[c].rvec, Re);
        km_rodrigues(s.calib.cams[c].rvec, Rt);
        rmax = fmax(rmax, rot_angle_deg(Re, Rt, R));
    }
    printf("| %d | %.0f | %.0f%% | %.2f | %.2f | %.4f | %.2f | %.2f | %+.2f | %.2f | %.2f | %.1f |\n",
           ncams, noise, 100 * outliers, 1000 * csum / ncams, 1000 * cmax, rmax, 1000 * mt,
           1000 * me, 1000 * (me - mt), rep.rms_all_px, 100 * scale_err, secs);
    free(Xt);
    free(Xe);
    km_calib_free(&est);
    km_synth_free(&s);
}

static void selfcal(void)
{
    int frames = quick ? 300 : 900;
    printf("\n## Self-calibration from %d s of walking (intrinsics known, subject height given)\n\n",
           frames / 30);
    printf("Errors after similarity alignment (camera centres for >= 3 cameras, triangulated "
           "points for 2).\n\n");
    printf("| cameras | noise px | outliers | centre mean mm | centre max mm | rot max deg | "
           "MPJPE true calib mm | MPJPE est calib mm | difference mm | RMS px | scale err %% | "
           "time s |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    const int cams[] = {2, 4, 8, 16};
    for (int i = 0; i < 4; i++)
        selfcal_row(cams[i], frames, 1.0, 0.0);
    selfcal_row(4, frames, 2.0, 0.10);
}

int main(int argc, char **argv)
{
    quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    printf("# kinema geom benchmark%s\n", quick ? " (quick)" : "");
    accuracy();
    speed();
    selfcal();
    return 0;
}
