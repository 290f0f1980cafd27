/* test_geom_camera.c - the camera model and calibration files: Rodrigues
 * round trips, projection vs undistortion, TOML (Pose2Sim and anipose
 * samples, malformed files with line numbers), .npz (also read by numpy)
 * and JSON round trips. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_geom_common.h"

static void test_rodrigues_round_trip(void **state)
{
    (void)state;
    km_rng r;
    km_rng_seed(&r, 7);
    for (int i = 0; i < 1000; i++) {
        double v[3], R[9], back[3];
        double ang = (i == 0 ? 0 : i == 1 ? M_PI - 1e-9 : M_PI * km_rng_uniform(&r));
        double ax[3] = {km_rng_gauss(&r), km_rng_gauss(&r), km_rng_gauss(&r)};
        double n = sqrt(ax[0] * ax[0] + ax[1] * ax[1] + ax[2] * ax[2]);
        for (int d = 0; d < 3; d++)
            v[d] = ax[d] / n * ang;
        km_rodrigues(v, R);
        /* orthonormal */
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++) {
                double dot = R[a] * R[b] + R[3 + a] * R[3 + b] + R[6 + a] * R[6 + b];
                assert_true(fabs(dot - (a == b)) < 1e-12);
            }
        km_rodrigues_inv(R, back);
        double R2[9];
        km_rodrigues(back, R2);
        for (int k = 0; k < 9; k++)
            assert_true(fabs(R[k] - R2[k]) < 1e-7);
    }
}

static km_camera sample_camera(void)
{
    km_camera c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "cam_a");
    c.width = 1920, c.height = 1080;
    double K[9] = {1200, 0, 955, 0, 1195, 545, 0, 0, 1};
    double d[5] = {-0.18, 0.05, 0.0007, -0.0009, 0.0};
    memcpy(c.K, K, sizeof K);
    memcpy(c.dist, d, sizeof d);
    c.rvec[0] = 0.1, c.rvec[1] = 2.2, c.rvec[2] = -2.0;
    c.t[0] = -0.2, c.t[1] = 0.8, c.t[2] = 4.3;
    km_camera_update(&c);
    return c;
}

/* Undistortion inverts the distortion to 1e-6 px over the whole image. */
static void test_undistort_inverts_projection(void **state)
{
    (void)state;
    km_camera c = sample_camera();
    for (int y = 0; y <= 1080; y += 60)
        for (int x = 0; x <= 1920; x += 80) {
            double uv[2] = {x, y}, xn[2], xd, yd;
            km_camera_undistort_normalized(&c, uv, xn);
            km_distort_normalized(c.dist, xn[0], xn[1], &xd, &yd);
            double u = c.K[0] * xd + c.K[2], v = c.K[4] * yd + c.K[5];
            assert_true(fabs(u - x) < 1e-6 && fabs(v - y) < 1e-6);
        }
}

/* A point on the optical axis projects to the principal point; the centre
 * projects behind itself (depth 0). */
static void test_projection_geometry(void **state)
{
    (void)state;
    km_camera c = sample_camera();
    double C[3], uv[2];
    km_camera_center(&c, C);
    double X[3] = {C[0] + 3 * c.R[6], C[1] + 3 * c.R[7], C[2] + 3 * c.R[8]};
    double z = km_camera_project(&c, X, uv);
    assert_true(fabs(z - 3) < 1e-9);
    assert_true(fabs(uv[0] - c.K[2]) < 1e-9 && fabs(uv[1] - c.K[5]) < 1e-9);
    km_camera d = c;
    km_camera_set_pose(&d, c.R, C);
    for (int i = 0; i < 3; i++)
        assert_true(fabs(d.t[i] - c.t[i]) < 1e-9);
}

static void assert_calib_equal(const km_calib *a, const km_calib *b, double tol)
{
    assert_int_equal(a->ncams, b->ncams);
    for (int c = 0; c < a->ncams; c++) {
        const km_camera *x = &a->cams[c], *y = &b->cams[c];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->width, y->width);
        assert_int_equal(x->height, y->height);
        for (int i = 0; i < 9; i++)
            assert_true(fabs(x->K[i] - y->K[i]) <= tol * fmax(1, fabs(x->K[i])));
        for (int i = 0; i < 5; i++)
            assert_true(fabs(x->dist[i] - y->dist[i]) <= tol);
        for (int i = 0; i < 3; i++)
            assert_true(fabs(x->rvec[i] - y->rvec[i]) <= tol &&
                        fabs(x->t[i] - y->t[i]) <= tol);
    }
}

static void make_calib(km_calib *cal, int n)
{
    assert_int_equal(km_calib_alloc(cal, n), 0);
    for (int c = 0; c < n; c++) {
        cal->cams[c] = sample_camera();
        snprintf(cal->cams[c].name, sizeof cal->cams[c].name, "cam%d", c);
        cal->cams[c].rvec[2] += 0.3 * c;
        cal->cams[c].t[0] += 0.5 * c;
        km_camera_update(&cal->cams[c]);
    }
}

static void round_trip(const char *name, double tol)
{
    km_calib a, b;
    char p[256];
    tc_tmp_path(p, sizeof p, name);
    make_calib(&a, 3);
    assert_int_equal(km_calib_write(p, &a), 0);
    assert_int_equal(km_calib_read(p, &b), 0);
    assert_calib_equal(&a, &b, tol);
    km_calib_free(&a);
    km_calib_free(&b);
}

/* TOML and JSON keep every double exactly; npz too (raw float64). */
static void test_round_trips(void **state)
{
    (void)state;
    round_trip("c.toml", 0);
    round_trip("c.json", 0);
    round_trip("c.npz", 0);
}

/* numpy (Debian's /usr/bin/python3) reads our .npz with the documented
 * array names and shapes. */
static void test_numpy_reads_npz(void **state)
{
    (void)state;
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) {
        skip();
    }
    km_calib a;
    char p[256], cmd[1024];
    tc_tmp_path(p, sizeof p, "np.npz");
    make_calib(&a, 2);
    assert_int_equal(km_calib_write_npz(p, &a), 0);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as np; z = np.load('%s'); "
             "assert z['camera_matrix'].shape == (2, 3, 3); "
             "assert z['dist_coeffs'].shape == (2, 5); "
             "assert z['rvec'].shape == (2, 3) and z['tvec'].shape == (2, 3); "
             "assert z['rotation_matrix'].shape == (2, 3, 3); "
             "assert z['image_size'].tolist() == [[1920, 1080], [1920, 1080]]; "
             "assert bytes(z['names'][1]).rstrip(b'\\\\0') == b'cam1'; "
             "assert abs(z['camera_matrix'][0, 0, 0] - 1200.0) < 1e-12; "
             "R = z['rotation_matrix'][0]; assert abs(np.linalg.det(R) - 1) < 1e-9\"",
             p);
    assert_int_equal(system(cmd), 0);
    km_calib_free(&a);
}

/* A Pose2Sim calibration file (4 distortions, metadata table, comments,
 * multi-line arrays) and an anipose one (nested distortions, int sizes). */
static void test_toml_pose2sim_and_anipose(void **state)
{
    (void)state;
    const char *pose2sim =
        "# Pose2Sim calibration\n"
        "[int_cam01_img]\n"
        "name = \"int_cam01_img\"\n"
        "size = [ 1088.0, 1920.0]\n"
        "matrix = [ [ 1677.9, 0.0, 543.5], [ 0.0, 1679.6, 959.5], [ 0.0, 0.0, 1.0]]\n"
        "distortions = [ -0.0466, 0.1467, -0.0009, 0.0003]\n"
        "rotation = [ 1.29, -1.30, 1.06] # Rodrigues\n"
        "translation = [ 0.39, 1.17, 4.90]\n"
        "fisheye = false\n\n"
        "[int_cam02_img]\n"
        "name = 'cam two'\n"
        "size = [ 1088.0, 1920.0]\n"
        "matrix = [\n  [ 1680.0, 0.0, 543.5],\n  [ 0.0, 1680.0, 959.5],\n  [ 0.0, 0.0, 1.0],\n]\n"
        "distortions = [ 0.0, 0.0, 0.0, 0.0]\n"
        "rotation = [ 0.0, 0.0, 0.0]\n"
        "translation = [ 0.0, 0.0, 1e1]\n"
        "fisheye = false\n\n"
        "[metadata]\nadjusted = false\nerror = 0.0\n";
    km_calib c;
    assert_int_equal(km_calib_parse_toml(pose2sim, strlen(pose2sim), "p2s.toml", &c), 0);
    assert_int_equal(c.ncams, 2);
    assert_string_equal(c.cams[0].name, "int_cam01_img");
    assert_string_equal(c.cams[1].name, "cam two");
    assert_int_equal(c.cams[0].width, 1088);
    assert_true(fabs(c.cams[0].dist[1] - 0.1467) < 1e-15 && c.cams[0].dist[4] == 0);
    assert_true(c.cams[1].t[2] == 10.0);
    km_calib_free(&c);
    const char *anipose = "[cam_0]\nname = \"A\"\nsize = [ 1280, 720,]\n"
                          "matrix = [[900, 0, 640], [0, 900, 360], [0, 0, 1]]\n"
                          "distortions = [[-0.2, 0.1, 0, 0, -0.01]]\n"
                          "rotation = [0.1, 0.2, 0.3]\ntranslation = [-100.5, 2, +3]\n";
    assert_int_equal(km_calib_parse_toml(anipose, strlen(anipose), "ani.toml", &c), 0);
    assert_int_equal(c.ncams, 1);
    assert_true(c.cams[0].dist[4] == -0.01 && c.cams[0].t[0] == -100.5);
    km_calib_free(&c);
}

/* Malformed TOML: each error names the source and the line. */
static void test_toml_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"[cam]\nmatrix = [[1,0,0],[0,1,0],[0,0,1]]\nsize = [1, 2\n", "bad.toml:3:"},
        {"[cam\n", "bad.toml:1: expected ']'"},
        {"[a]\nx = 1\nx = 2\n", "bad.toml:3: key defined twice"},
        {"[a]\n[a]\n", "bad.toml:2: table defined twice"},
        {"[a]\ns = \"open\n", "bad.toml:2: unterminated string"},
        {"[a]\nv = {x = 1}\n", "inline tables"},
        {"[[a]]\n", "arrays of tables"},
        {"[a]\nv = 1 2\n", "bad.toml:2: unexpected text"},
        {"[a]\nv = 0x1F\n", "hex"},
        {"[a]\na.b = 1\n", "dotted keys"},
        {"[a]\nv = nope\n", "expected a value"},
        {"[a]\nv = \"\\q\"\n", "unknown escape"},
        {"[a]\nx = 1\n", "no camera table"},
        {"[c]\nsize = [10, 10]\nmatrix = [[1,0,0],[0,1,0]]\n", "matrix: expected 3 rows"},
        {"[c]\nsize = [10, 10]\nmatrix = [[1,0,0],[0,1,0],[0,0,1]]\n"
         "distortions = [0,0,0,0]\nrotation = [0,0,0]\n",
         "missing field 'translation'"},
        {"[c]\nsize = [10, 10]\nmatrix = [[1,0,0],[0,1,0],[0,0,1]]\n"
         "distortions = [0,0,0,0]\nrotation = [0,0,0]\ntranslation = [0,0,\"x\"]\n",
         "translation[2]: expected a number"},
        {"[c]\nsize = [10, 10]\nmatrix = [[1,0,0],[0,1,0],[0,0,1]]\n"
         "distortions = [0,0,0,0]\nrotation = [0,0,0]\ntranslation = [0,0,0]\n"
         "fisheye = true\n",
         "fisheye"},
        {"[c]\nsize = [0, 10]\nmatrix = [[1,0,0],[0,1,0],[0,0,1]]\n", "size"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        km_calib c;
        int rc = km_calib_parse_toml(cases[i].text, strlen(cases[i].text), "bad.toml", &c);
        if (rc == 0 || !strstr(km_errmsg(), cases[i].want))
            fail_msg("case %zu: rc %d, message '%s', wanted '%s'", i, rc, km_errmsg(),
                     cases[i].want);
        assert_int_equal(c.ncams, 0);
    }
    /* deep nesting is bounded */
    char deep[256] = "[a]\nv = ";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    km_calib c;
    assert_int_not_equal(km_calib_parse_toml(deep, strlen(deep), "deep.toml", &c), 0);
    assert_non_null(strstr(km_errmsg(), "nested"));
}

/* Random truncations and byte mutations of a valid file never crash the
 * reader (run under ASan/UBSan by `make check`): each parses or fails with
 * a message that names the source. */
static void test_toml_mutations(void **state)
{
    (void)state;
    km_calib a;
    char p[256];
    tc_tmp_path(p, sizeof p, "m.toml");
    make_calib(&a, 2);
    assert_int_equal(km_calib_write_toml(p, &a), 0);
    km_calib_free(&a);
    uint8_t *text;
    size_t len;
    assert_int_equal(km_read_file(p, 1 << 20, &text, &len), 0);
    char *buf = malloc(len + 1);
    km_rng r;
    km_rng_seed(&r, 99);
    static const char alphabet[] = "[]=,\"'#\n\\.-+e0123456789abtfu {}x\t";
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, text, len);
        size_t n = len;
        if (it % 3 == 0)
            n = (size_t)(km_rng_next(&r) % (len + 1));
        for (int m = 0; m < 1 + (int)(km_rng_next(&r) % 4); m++)
            buf[km_rng_next(&r) % len] = alphabet[km_rng_next(&r) % (sizeof alphabet - 1)];
        km_calib c;
        if (km_calib_parse_toml(buf, n, "fuzz.toml", &c) == 0)
            km_calib_free(&c);
        else
            assert_non_null(strstr(km_errmsg(), "fuzz.toml"));
    }
    free(buf);
    free(text);
}

static void test_bad_files(void **state)
{
    (void)state;
    km_calib c;
    char p[256];
    assert_int_not_equal(km_calib_read("/nonexistent/x.toml", &c), 0);
    assert_int_not_equal(km_calib_read("x.yaml", &c), 0);
    tc_tmp_path(p, sizeof p, "bad.json");
    tc_write_text(p, "{\"cameras\": [{\"name\": \"a\", \"size\": [10]}]}");
    assert_int_not_equal(km_calib_read(p, &c), 0);
    assert_non_null(strstr(km_errmsg(), "cameras[0].size"));
    tc_write_text(p, "{\"cameras\": [");
    assert_int_not_equal(km_calib_read(p, &c), 0);
    assert_non_null(strstr(km_errmsg(), "bad.json:1:"));
    tc_tmp_path(p, sizeof p, "bad.npz");
    tc_write_text(p, "PK\003\004garbage");
    assert_int_not_equal(km_calib_read(p, &c), 0);
    /* npz without camera_matrix */
    km_array a;
    int64_t shape[2] = {2, 3};
    assert_int_equal(km_array_alloc(&a, KM_DT_F64, 2, shape), 0);
    const char *names[1] = {"tvec"};
    assert_int_equal(km_npz_write(p, 1, names, &a), 0);
    km_array_free(&a);
    assert_int_not_equal(km_calib_read(p, &c), 0);
    assert_non_null(strstr(km_errmsg(), "camera_matrix"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rodrigues_round_trip),
        cmocka_unit_test(test_undistort_inverts_projection),
        cmocka_unit_test(test_projection_geometry),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_numpy_reads_npz),
        cmocka_unit_test(test_toml_pose2sim_and_anipose),
        cmocka_unit_test(test_toml_malformed),
        cmocka_unit_test(test_toml_mutations),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, geom_tmp_setup, tc_tmpdir_teardown);
}
