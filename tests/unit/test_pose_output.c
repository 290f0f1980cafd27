/*
 * test_pose_output.c - the `kinema pose` writers without any model: the
 * JSON schema of issue 3 (parsed back with jansson), CSV rows, the .npy
 * array indexed by track id, atomic output (abort leaves nothing), and the
 * overlay drawing staying inside the image.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "kinema/media.h"
#include "kinema/pose.h"

static void fill_result(km_pose_result *r, km_kp_format fmt, int with3d)
{
    memset(r, 0, sizeof *r);
    r->n = 2;
    for (int i = 0; i < 2; i++) {
        km_person *p = &r->p[i];
        p->id = i == 0 ? 3 : 0;
        p->score = 0.5f + 0.1f * (float)i;
        p->format = fmt;
        p->nkp = km_kp_count(fmt);
        p->has_3d = with3d;
        for (int k = 0; k < p->nkp; k++) {
            p->kp[k].x = 10.0f * (float)i + (float)k;
            p->kp[k].y = 20.0f + (float)k;
            p->kp[k].score = 0.25f;
            p->world[k][2] = -0.5f;
        }
        km_person_update_bbox(p, 0.0f);
    }
}

static void tmpname(char *buf, size_t cap, const char *ext)
{
    snprintf(buf, cap, "/tmp/kinema-test-pose-%d.%s", (int)getpid(), ext);
}

static void test_json_schema(void **state)
{
    (void)state;
    char path[128];
    tmpname(path, sizeof path, "json");
    const char *models[2] = {"blazepose-full", "movenet-thunder"};
    km_pose_stream_info info = {"in \"quoted\".mp4", 640, 480, 25.0, models, 2, KM_KP_BLAZE33};
    km_pose_writer *w;
    assert_int_equal(km_pose_writer_open(&w, path, KM_POSE_OUT_JSON, &info), 0);
    km_pose_result r;
    fill_result(&r, KM_KP_BLAZE33, 1);
    assert_int_equal(km_pose_writer_frame(w, 0, 0.0, &r), 0);
    r.n = 0;
    assert_int_equal(km_pose_writer_frame(w, 1, 0.04, &r), 0);
    assert_int_equal(km_pose_writer_close(w), 0);

    json_error_t err;
    json_t *d = json_load_file(path, 0, &err);
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "input")), "in \"quoted\".mp4");
    assert_int_equal(json_integer_value(json_object_get(d, "width")), 640);
    assert_int_equal(json_integer_value(json_object_get(d, "height")), 480);
    assert_float_equal(json_number_value(json_object_get(d, "fps")), 25.0, 1e-9);
    assert_int_equal(json_array_size(json_object_get(d, "models")), 2);
    assert_string_equal(json_string_value(json_object_get(d, "keypoint_format")), "blazepose33");
    json_t *names = json_object_get(d, "keypoint_names");
    assert_int_equal(json_array_size(names), 33);
    assert_string_equal(json_string_value(json_array_get(names, 32)), "right_foot_index");
    json_t *frames = json_object_get(d, "frames");
    assert_int_equal(json_array_size(frames), 2);
    json_t *f0 = json_array_get(frames, 0);
    assert_int_equal(json_integer_value(json_object_get(f0, "frame")), 0);
    assert_int_equal(json_array_size(json_object_get(f0, "persons")), 2);
    json_t *p = json_array_get(json_object_get(f0, "persons"), 0);
    assert_int_equal(json_integer_value(json_object_get(p, "id")), 3);
    assert_float_equal(json_number_value(json_object_get(p, "score")), 0.5, 1e-4);
    assert_int_equal(json_array_size(json_object_get(p, "bbox")), 4);
    json_t *kp = json_object_get(p, "keypoints");
    assert_int_equal(json_array_size(kp), 33);
    assert_int_equal(json_array_size(json_array_get(kp, 5)), 3);
    assert_float_equal(json_number_value(json_array_get(json_array_get(kp, 5), 0)), 5.0, 1e-2);
    json_t *k3 = json_object_get(p, "keypoints_3d");
    assert_int_equal(json_array_size(k3), 33);
    assert_float_equal(json_number_value(json_array_get(json_array_get(k3, 0), 2)), -0.5, 1e-4);
    json_t *f1 = json_array_get(frames, 1);
    assert_float_equal(json_number_value(json_object_get(f1, "timestamp")), 0.04, 1e-6);
    assert_int_equal(json_array_size(json_object_get(f1, "persons")), 0);
    json_decref(d);

    /* keypoints_3d is null without 3D */
    assert_int_equal(km_pose_writer_open(&w, path, KM_POSE_OUT_JSON, &info), 0);
    fill_result(&r, KM_KP_BLAZE33, 0);
    assert_int_equal(km_pose_writer_frame(w, 0, 0.0, &r), 0);
    assert_int_equal(km_pose_writer_close(w), 0);
    d = json_load_file(path, 0, &err);
    assert_non_null(d);
    p = json_array_get(json_object_get(json_array_get(json_object_get(d, "frames"), 0), "persons"), 0);
    assert_true(json_is_null(json_object_get(p, "keypoints_3d")));
    json_decref(d);
    unlink(path);
}

static void test_csv(void **state)
{
    (void)state;
    char path[128];
    tmpname(path, sizeof path, "csv");
    const char *models[1] = {"movenet-multipose"};
    km_pose_stream_info info = {"x.mp4", 64, 48, 10.0, models, 1, KM_KP_COCO17};
    km_pose_writer *w;
    assert_int_equal(km_pose_writer_open(&w, path, KM_POSE_OUT_CSV, &info), 0);
    km_pose_result r;
    fill_result(&r, KM_KP_COCO17, 0);
    assert_int_equal(km_pose_writer_frame(w, 7, 0.7, &r), 0);
    assert_int_equal(km_pose_writer_close(w), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    int rows = 0;
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "frame,timestamp,id,person_score,keypoint,name,x,y,score\n");
    while (fgets(line, sizeof line, f)) {
        if (rows == 0)
            assert_string_equal(line, "7,0.700000,3,0.5000,0,nose,0.00,20.00,0.2500\n");
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, 2 * 17);
    unlink(path);
}

static void test_npy_by_track_id(void **state)
{
    (void)state;
    char path[128];
    tmpname(path, sizeof path, "npy");
    const char *models[1] = {"movenet-multipose"};
    km_pose_stream_info info = {"x.mp4", 64, 48, 10.0, models, 1, KM_KP_COCO17};
    km_pose_writer *w;
    assert_int_equal(km_pose_writer_open(&w, path, KM_POSE_OUT_NPY, &info), 0);
    km_pose_result r;
    fill_result(&r, KM_KP_COCO17, 0);
    assert_int_equal(km_pose_writer_frame(w, 0, 0.0, &r), 0);
    r.n = 1; /* frame 1: only id 3 */
    assert_int_equal(km_pose_writer_frame(w, 1, 0.1, &r), 0);
    assert_int_equal(km_pose_writer_close(w), 0);
    km_array a;
    assert_int_equal(km_npy_read(path, &a), 0);
    assert_int_equal(a.dtype, KM_DT_F32);
    assert_int_equal(a.ndim, 4);
    assert_int_equal(a.shape[0], 2);
    assert_int_equal(a.shape[1], 4); /* ids 0..3 */
    assert_int_equal(a.shape[2], 17);
    assert_int_equal(a.shape[3], 3);
    const float *d = a.data;
    /* [0, 3, 5] is person id 3's left_shoulder */
    assert_float_equal(d[((0 * 4 + 3) * 17 + 5) * 3], 5.0f, 1e-6);
    assert_float_equal(d[((0 * 4 + 0) * 17 + 5) * 3], 15.0f, 1e-6);
    assert_true(isnan(d[((0 * 4 + 1) * 17 + 0) * 3]));  /* nobody with id 1 */
    assert_true(isnan(d[((1 * 4 + 0) * 17 + 0) * 3]));  /* id 0 gone in frame 1 */
    assert_float_equal(d[((1 * 4 + 3) * 17 + 0) * 3 + 2], 0.25f, 1e-6);
    km_array_free(&a);
    unlink(path);
}

static void test_abort_leaves_nothing(void **state)
{
    (void)state;
    char path[128];
    tmpname(path, sizeof path, "aborted.json");
    unlink(path);
    const char *models[1] = {"movenet-thunder"};
    km_pose_stream_info info = {"x.jpg", 64, 48, 0.0, models, 1, KM_KP_COCO17};
    km_pose_writer *w;
    assert_int_equal(km_pose_writer_open(&w, path, KM_POSE_OUT_JSON, &info), 0);
    km_pose_result r;
    fill_result(&r, KM_KP_COCO17, 0);
    assert_int_equal(km_pose_writer_frame(w, 0, 0.0, &r), 0);
    km_pose_writer_abort(w);
    assert_int_equal(access(path, F_OK), -1);
    km_pose_writer_abort(NULL);
}

static void test_overlay_in_bounds(void **state)
{
    (void)state;
    km_image *img = km_image_new(64, 48, KM_PIX_RGB24, 3);
    assert_non_null(img);
    km_pose_result r;
    fill_result(&r, KM_KP_BLAZE33, 0);
    /* keypoints partly far outside the image, one NaN */
    r.p[1].kp[3].x = -1e6f;
    r.p[1].kp[4].y = 1e6f;
    r.p[1].kp[5].x = NAN;
    for (int k = 0; k < 33; k++)
        r.p[0].kp[k].score = r.p[1].kp[k].score = 0.9f;
    km_pose_draw(img, &r, 0.5f);
    int painted = 0;
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 64 * 3; x++)
            painted += km_image_row(img, y)[x] != 0;
    assert_true(painted > 0);
    km_image_free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_schema),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_npy_by_track_id),
        cmocka_unit_test(test_abort_leaves_nothing),
        cmocka_unit_test(test_overlay_in_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
