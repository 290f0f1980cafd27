/* test_server_layout.c - the capture service's file layout (the seed's
 * paths), built only from valid ids: traversal attempts and over-long
 * paths are refused, and array writes leave no partial file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/capture.h"

static void test_paths(void **state)
{
    km_capture c;
    memset(&c, 0, sizeof c);
    snprintf(c.data_dir, sizeof c.data_dir, "/d");
    char out[CAP_PATH];
    assert_int_equal(cap_session_dir(&c, "P1", "S1", out, sizeof out), 0);
    assert_string_equal(out, "/d/unprocessed/patientP1/sessionS1");
    assert_int_equal(cap_camera_dir(&c, "P1", "S1", 2, out, sizeof out), 0);
    assert_string_equal(out, "/d/unprocessed/patientP1/sessionS1/camera2");
    assert_int_equal(cap_chunk_path(&c, "P1", "S1", 0, 17, out, sizeof out), 0);
    assert_string_equal(out, "/d/unprocessed/patientP1/sessionS1/camera0/17.mp4");
    assert_int_equal(cap_processed_dir(&c, "P1", "S1", out, sizeof out), 0);
    assert_string_equal(out, "/d/processed/keypoints_3d/patientP1/sessionS1");
    assert_int_equal(cap_calib_path(&c, "P1", "S1", "npz", out, sizeof out), 0);
    assert_string_equal(out, "/d/unprocessed/patientP1/sessionS1/calibration.npz");
}

static void test_bad_ids(void **state)
{
    km_capture c;
    memset(&c, 0, sizeof c);
    snprintf(c.data_dir, sizeof c.data_dir, "/d");
    char out[CAP_PATH];
    const char *bad[] = {"..", "../x", "a/b", "", "a b", NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(cap_session_dir(&c, bad[i], "S", out, sizeof out), KM_EINVAL);
        assert_int_equal(cap_camera_dir(&c, "P", bad[i], 0, out, sizeof out), KM_EINVAL);
        assert_int_equal(cap_chunk_path(&c, bad[i], "S", 0, 0, out, sizeof out), KM_EINVAL);
        assert_int_equal(cap_processed_dir(&c, "P", bad[i], out, sizeof out), KM_EINVAL);
    }
    char small[16];
    assert_int_equal(cap_session_dir(&c, "P1", "S1", small, sizeof small), KM_ERANGE);
}

static void test_models(void **state)
{
    km_pose_kind k[CAP_MAX_MODELS];
    int n = 0;
    assert_int_equal(cap_models_parse("[\"blazepose-lite\",\"movenet-lightning\"]", k, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(cap_models_parse("[]", k, &n), KM_EINVAL);
    assert_int_equal(cap_models_parse("[\"nope\"]", k, &n), KM_EINVAL);
    assert_int_equal(cap_models_parse("[\"blazepose-lite\",\"blazepose-lite\"]", k, &n), KM_EINVAL);
    assert_int_equal(cap_models_parse("[1]", k, &n), KM_EINVAL);
    assert_int_equal(cap_models_parse("{", k, &n), KM_EINVAL);
}

static void test_write_npy(void **state)
{
    char dir[] = "/tmp/kinema-layout-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], part[160];
    snprintf(path, sizeof path, "%s/0_3.npy", dir);
    snprintf(part, sizeof part, "%s.part", path);
    double v[6] = {1, 2, 3, 4, 5, 6};
    km_array a = {KM_DT_F64, 2, {3, 2}, v};
    assert_int_equal(cap_write_npy(path, &a), 0);
    assert_int_not_equal(access(part, F_OK), 0);
    km_array b;
    assert_int_equal(km_npy_read(path, &b), 0);
    assert_int_equal(b.shape[0], 3);
    assert_memory_equal(b.data, v, sizeof v);
    km_array_free(&b);
    snprintf(path, sizeof path, "%s/missing/x.npy", dir);
    assert_int_equal(cap_write_npy(path, &a), KM_EIO);
    km_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_bad_ids),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_write_npy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
