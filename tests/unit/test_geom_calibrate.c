/* test_geom_calibrate.c - self-calibration from a walking subject on
 * seeded synthetic rigs: camera centres and rotations vs the truth after
 * similarity alignment, MPJPE with the estimated calibration vs the true
 * one, floor at z = 0 with z up, metric scale from the subject's height,
 * and clear failures. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_geom_common.h"

static void triangulate_all(const km_calib *cal, const km_synth *s, double *X)
{
    km_triangulator *t;
    assert_int_equal(km_triangulator_create(cal, NULL, &t), 0);
    const double *views[KM_GEOM_MAX_CAMERAS];
    for (int c = 0; c < cal->ncams; c++)
        views[c] = s->views[c].kp;
    assert_int_equal(km_triangulate_sequence(t, s->nframes, s->nkp, views, X, NULL, NULL, NULL),
                     0);
    km_triangulator_free(t);
}

/* Intrinsics from the truth, extrinsics zeroed. */
static void intrinsics_only(const km_synth *s, km_calib *est)
{
    assert_int_equal(km_calib_alloc(est, s->calib.ncams), 0);
    for (int c = 0; c < s->calib.ncams; c++) {
        est->cams[c] = s->calib.cams[c];
        memset(est->cams[c].rvec, 0, sizeof est->cams[c].rvec);
        memset(est->cams[c].t, 0, sizeof est->cams[c].t);
        km_camera_update(&est->cams[c]);
    }
}

typedef struct {
    double centre_mm, rot_deg, mpjpe_true_mm, mpjpe_est_mm;
} cal_errors;

static void apply_sim(double s, const double R[9], const double T[3], const double *p, double *q)
{
    for (int r = 0; r < 3; r++)
        q[r] = s * (R[3 * r] * p[0] + R[3 * r + 1] * p[1] + R[3 * r + 2] * p[2]) + T[r];
}

static cal_errors evaluate(const km_synth *s, const km_calib *est)
{
    cal_errors e = {0};
    int C = s->calib.ncams;
    size_t n = (size_t)s->nframes * s->nkp;
    double *Xt = malloc(n * 3 * sizeof *Xt), *Xe = malloc(n * 3 * sizeof *Xe);
    triangulate_all(&s->calib, s, Xt);
    triangulate_all(est, s, Xe);
    e.mpjpe_true_mm = 1000 * km_mpjpe((int)n, Xt, s->gt, NULL);
    double sc, R[9], T[3];
    /* points give the MPJPE alignment; centres (>= 3 cameras) the rig's */
    assert_int_equal(km_similarity_fit((int)n, Xe, s->gt, &sc, R, T), 0);
    for (size_t i = 0; i < n; i++) {
        double q[3];
        apply_sim(sc, R, T, Xe + 3 * i, q);
        memcpy(Xe + 3 * i, q, sizeof q);
    }
    e.mpjpe_est_mm = 1000 * km_mpjpe((int)n, Xe, s->gt, NULL);
    double ce[3 * KM_GEOM_MAX_CAMERAS], ct[3 * KM_GEOM_MAX_CAMERAS];
    for (int c = 0; c < C; c++) {
        km_camera_center(&est->cams[c], ce + 3 * c);
        km_camera_center(&s->calib.cams[c], ct + 3 * c);
    }
    if (C >= 3)
        assert_int_equal(km_similarity_fit(C, ce, ct, &sc, R, T), 0);
    for (int c = 0; c < C; c++) {
        double q[3], Re[9], Rt[9];
        apply_sim(sc, R, T, ce + 3 * c, q);
        e.centre_mm = fmax(e.centre_mm, 1000 * v3dist(q, ct + 3 * c));
        km_rodrigues(est->cams[c].rvec, Re);
        km_rodrigues(s->calib.cams[c].rvec, Rt);
        /* aligned camera rotation Re R^T against Rt: angle of Re R^T Rt^T */
        double A[9], D[9];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                A[3 * i + j] = 0;
                for (int k = 0; k < 3; k++)
                    A[3 * i + j] += Re[3 * i + k] * R[3 * j + k];
            }
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                D[3 * i + j] = 0;
                for (int k = 0; k < 3; k++)
                    D[3 * i + j] += A[3 * i + k] * Rt[3 * j + k];
            }
        double ang = acos(fmin(1, (D[0] + D[4] + D[8] - 1) / 2)) * 180 / M_PI;
        e.rot_deg = fmax(e.rot_deg, ang);
    }
    free(Xt);
    free(Xe);
    return e;
}

static void run_rig(int ncams, int frames, double noise, double outliers, uint64_t seed,
                    km_synth *s, km_calib *est, km_selfcal_report *rep)
{
    km_synth_opts o;
    km_synth_opts_default(&o);
    o.ncams = ncams, o.nframes = frames, o.noise_px = noise, o.outliers = outliers;
    o.seed = seed;
    assert_int_equal(km_synth_generate(&o, s), 0);
    intrinsics_only(s, est);
    km_selfcal_opts so;
    km_selfcal_opts_default(&so);
    so.subject_height = s->height;
    const double *views[KM_GEOM_MAX_CAMERAS];
    for (int c = 0; c < ncams; c++)
        views[c] = s->views[c].kp;
    int rc = km_selfcal(est, s->skel, s->nframes, views, &so, rep);
    if (rc)
        fail_msg("selfcal: %s", km_errmsg());
}

/* The targets are for 30 s; 10 s (300 frames) at sigma = 1 px
 * already gives ~0.2 mm / 0.005 deg here, so the bounds (1 cm,
 * 0.3 deg, 2 mm MPJPE) hold with a wide margin and are what we assert. */
static void test_four_cameras(void **state)
{
    (void)state;
    km_synth s;
    km_calib est;
    km_selfcal_report rep;
    run_rig(4, 300, 1.0, 0.0, 1, &s, &est, &rep);
    cal_errors e = evaluate(&s, &est);
    assert_true(e.centre_mm < 10);
    assert_true(e.rot_deg < 0.3);
    assert_true(fabs(e.mpjpe_est_mm - e.mpjpe_true_mm) < 2);
    /* reprojection RMS near the noise (sigma 1 px: RMS of 2D error ~1.4
     * px minus the dof absorbed by the points) */
    assert_int_equal(rep.ncams, 4);
    for (int c = 0; c < 4; c++)
        assert_true(rep.rms_px[c] > 0.5 && rep.rms_px[c] < 2.0 && rep.nobs[c] > 1000);
    /* world frame: floor at z = 0, z up, metric within 3% of the truth */
    size_t n = (size_t)s.nframes * s.nkp;
    double *X = malloc(n * 3 * sizeof *X);
    triangulate_all(&est, &s, X);
    int heel = km_skeleton_find(s.skel, "left_heel"), nose = km_skeleton_find(s.skel, "nose");
    double floor_sum = 0, nose_sum = 0;
    for (int f = 0; f < s.nframes; f++) {
        double zmin = INFINITY;
        for (int k = heel; k < heel + 4; k++)
            zmin = fmin(zmin, X[((size_t)f * s.nkp + k) * 3 + 2]);
        floor_sum += zmin;
        nose_sum += X[((size_t)f * s.nkp + nose) * 3 + 2];
    }
    assert_true(fabs(floor_sum / s.nframes) < 0.02);
    assert_true(fabs(nose_sum / s.nframes / (0.9 * s.height) - 1) < 0.05);
    double sc, R[9], T[3];
    assert_int_equal(km_similarity_fit((int)n, X, s.gt, &sc, R, T), 0);
    assert_true(fabs(sc - 1) < 0.03);
    assert_true(R[8] > cos(2 * M_PI / 180)); /* z axes agree within 2 degrees */
    free(X);
    km_calib_free(&est);
    km_synth_free(&s);
}

/* Two cameras (one pair: no chaining) and outliers (RANSAC + Huber). */
static void test_two_cameras_and_outliers(void **state)
{
    (void)state;
    km_synth s;
    km_calib est;
    km_selfcal_report rep;
    run_rig(2, 300, 1.0, 0.0, 2, &s, &est, &rep);
    cal_errors e = evaluate(&s, &est);
    assert_true(e.rot_deg < 0.3);
    assert_true(fabs(e.mpjpe_est_mm - e.mpjpe_true_mm) < 2);
    km_calib_free(&est);
    km_synth_free(&s);
    run_rig(3, 300, 2.0, 0.10, 3, &s, &est, &rep);
    e = evaluate(&s, &est);
    assert_true(e.centre_mm < 20);
    assert_true(e.rot_deg < 0.3);
    assert_true(fabs(e.mpjpe_est_mm - e.mpjpe_true_mm) < 3);
    km_calib_free(&est);
    km_synth_free(&s);
}

/* COCO-17 (no heels: the floor comes from the ankles) with 10% missed
 * detections; scale from a segment length instead of the height. */
static void test_coco_ankles_and_segment(void **state)
{
    (void)state;
    km_synth_opts o;
    km_synth_opts_default(&o);
    o.ncams = 3, o.nframes = 300, o.noise_px = 1, o.missing = 0.1, o.seed = 4;
    o.skel = KM_SKEL_COCO17;
    km_synth s;
    assert_int_equal(km_synth_generate(&o, &s), 0);
    km_calib est;
    intrinsics_only(&s, &est);
    /* true mean hip-knee distance of this subject */
    int hip = km_skeleton_find(s.skel, "left_hip"), knee = km_skeleton_find(s.skel, "left_knee");
    double seg = v3dist(s.gt + 3 * hip, s.gt + 3 * knee);
    km_selfcal_opts so;
    km_selfcal_opts_default(&so);
    so.seg_a = "left_hip", so.seg_b = "left_knee", so.seg_length = seg;
    const double *views[3] = {s.views[0].kp, s.views[1].kp, s.views[2].kp};
    km_selfcal_report rep;
    assert_int_equal(km_selfcal(&est, s.skel, s.nframes, views, &so, &rep), 0);
    cal_errors e = evaluate(&s, &est);
    assert_true(e.rot_deg < 0.3);
    assert_true(fabs(e.mpjpe_est_mm - e.mpjpe_true_mm) < 2);
    /* metric from the segment: within 1% (noise on two keypoints) */
    size_t n = (size_t)s.nframes * s.nkp;
    double *X = malloc(n * 3 * sizeof *X), sc, R[9], T[3];
    triangulate_all(&est, &s, X);
    assert_int_equal(km_similarity_fit((int)n, X, s.gt, &sc, R, T), 0);
    assert_true(fabs(sc - 1) < 0.01);
    /* the floor from the ankles: within 5 cm (an ankle is at its standing
     * height only while its foot is flat) */
    double gz = 0, ez = 0;
    int cnt = 0;
    for (int f = 0; f < s.nframes; f++) {
        const double *a = X + ((size_t)f * 17 + 15) * 3, *b = a + 3;
        const double *ga = s.gt + ((size_t)f * 17 + 15) * 3, *gb = ga + 3;
        if (isfinite(a[2]) && isfinite(b[2]))
            ez += fmin(a[2], b[2]), gz += fmin(ga[2], gb[2]), cnt++;
    }
    assert_true(cnt > 200);
    assert_true(fabs(ez / cnt - gz / cnt) < 0.05);
    free(X);
    km_calib_free(&est);
    km_synth_free(&s);
}

/* A subject who does not walk (sit-to-stand in place): the feet give no
 * floor plane, so up comes from the body axis while standing; within 2
 * degrees (the synthetic subject leans ~1 degree when standing). */
static void test_stationary_subject_up(void **state)
{
    (void)state;
    km_synth_opts o;
    km_synth_opts_default(&o);
    o.ncams = 3, o.nframes = 300, o.noise_px = 1, o.seed = 6, o.motion = KM_MOTION_SIT;
    km_synth s;
    assert_int_equal(km_synth_generate(&o, &s), 0);
    km_calib est;
    intrinsics_only(&s, &est);
    const double *views[3] = {s.views[0].kp, s.views[1].kp, s.views[2].kp};
    km_selfcal_opts so;
    km_selfcal_opts_default(&so);
    so.subject_height = s.height;
    assert_int_equal(km_selfcal(&est, s.skel, s.nframes, views, &so, NULL), 0);
    size_t n = (size_t)s.nframes * s.nkp;
    double *X = malloc(n * 3 * sizeof *X), sc, R[9], T[3];
    triangulate_all(&est, &s, X);
    assert_int_equal(km_similarity_fit((int)n, X, s.gt, &sc, R, T), 0);
    assert_true(R[8] > cos(2 * M_PI / 180));
    free(X);
    km_calib_free(&est);
    km_synth_free(&s);
}

/* A camera that sees nothing cannot be placed: a clear error. */
static void test_failures(void **state)
{
    (void)state;
    km_synth_opts o;
    km_synth_opts_default(&o);
    o.ncams = 3, o.nframes = 60;
    km_synth s;
    assert_int_equal(km_synth_generate(&o, &s), 0);
    km_calib est;
    intrinsics_only(&s, &est);
    for (size_t i = 0; i < (size_t)60 * 33; i++)
        s.views[2].kp[3 * i + 2] = 0;
    const double *views[3] = {s.views[0].kp, s.views[1].kp, s.views[2].kp};
    assert_int_not_equal(km_selfcal(&est, s.skel, 60, views, NULL, NULL), 0);
    assert_non_null(strstr(km_errmsg(), "too few"));
    km_calib one;
    assert_int_equal(km_calib_alloc(&one, 1), 0);
    assert_int_not_equal(km_selfcal(&one, s.skel, 60, views, NULL, NULL), 0);
    km_calib_free(&one);
    km_calib_free(&est);
    km_synth_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_four_cameras),
        cmocka_unit_test(test_two_cameras_and_outliers),
        cmocka_unit_test(test_coco_ankles_and_segment),
        cmocka_unit_test(test_stationary_subject_up),
        cmocka_unit_test(test_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
