/*
 * test_pose_geometry.c - the geometry under the pose pipelines: SSD anchor
 * count and positions, decode, weighted NMS, BlazePose ROI math, the
 * image <-> crop round trip (letterbox and rotated), and the sampler
 * (bilinear values, black borders, antialiased downscale).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kinema/pose.h"

#define PI_F 3.14159265358979f

static void test_anchor_count_and_positions(void **state)
{
    (void)state;
    static const int strides[5] = {8, 16, 32, 32, 32};
    int n = km_ssd_anchors(224, strides, 5, NULL, 0);
    assert_int_equal(n, 2254);
    km_anchor *a = malloc(sizeof *a * (size_t)n);
    assert_int_equal(km_ssd_anchors(224, strides, 5, a, n), 2254);
    /* stride 8: 28x28 cells, 2 anchors each, centres at (x + .5) / 28 */
    assert_float_equal(a[0].x, 0.5f / 28, 1e-6);
    assert_float_equal(a[1].x, 0.5f / 28, 1e-6);
    assert_float_equal(a[2].x, 1.5f / 28, 1e-6);
    assert_float_equal(a[2 * 28].y, 1.5f / 28, 1e-6);
    assert_float_equal(a[1567].x, 27.5f / 28, 1e-6);
    /* stride 16 starts at 1568: 14x14 cells */
    assert_float_equal(a[1568].x, 0.5f / 14, 1e-6);
    /* the three stride-32 layers merge: 7x7 cells, 6 anchors each */
    assert_float_equal(a[1568 + 392].x, 0.5f / 7, 1e-6);
    assert_float_equal(a[1568 + 392 + 5].x, 0.5f / 7, 1e-6);
    assert_float_equal(a[1568 + 392 + 6].x, 1.5f / 7, 1e-6);
    assert_float_equal(a[2253].x, 6.5f / 7, 1e-6);
    assert_float_equal(a[2253].y, 6.5f / 7, 1e-6);
    for (int i = 0; i < n; i++) {
        assert_float_equal(a[i].w, 1.0f, 0);
        assert_float_equal(a[i].h, 1.0f, 0);
    }
    free(a);
}

static void test_decode(void **state)
{
    (void)state;
    km_anchor an[2] = {{0.25f, 0.5f, 1, 1}, {0.75f, 0.5f, 1, 1}};
    float reg[24] = {0};
    float logits[2] = {3.0f, -3.0f};
    reg[0] = 22.4f;   /* +0.1 in x */
    reg[1] = -11.2f;  /* -0.05 in y */
    reg[2] = 44.8f;   /* w 0.2 */
    reg[3] = 89.6f;   /* h 0.4 */
    reg[4] = 0;       /* kp0 at the anchor */
    reg[5] = 0;
    reg[6] = 22.4f;   /* kp1 0.1 right of it */
    reg[7] = -22.4f;
    km_detection d[2];
    int n = km_ssd_decode(reg, logits, an, 2, 224, 0.5f, d, 2);
    assert_int_equal(n, 1);
    assert_float_equal(d[0].score, 1.0f / (1.0f + expf(-3.0f)), 1e-6);
    assert_float_equal(d[0].xmin, 0.35f - 0.1f, 1e-6);
    assert_float_equal(d[0].xmax, 0.35f + 0.1f, 1e-6);
    assert_float_equal(d[0].ymin, 0.45f - 0.2f, 1e-6);
    assert_float_equal(d[0].kp[0][0], 0.25f, 1e-6);
    assert_float_equal(d[0].kp[1][0], 0.35f, 1e-6);
    assert_float_equal(d[0].kp[1][1], 0.4f, 1e-6);
}

static km_detection det(float score, float x0, float y0, float x1, float y1)
{
    km_detection d;
    memset(&d, 0, sizeof d);
    d.score = score;
    d.xmin = x0;
    d.ymin = y0;
    d.xmax = x1;
    d.ymax = y1;
    d.kp[0][0] = (x0 + x1) / 2;
    d.kp[0][1] = (y0 + y1) / 2;
    return d;
}

static void test_weighted_nms(void **state)
{
    (void)state;
    km_detection d[4] = {
        det(0.6f, 0.10f, 0.10f, 0.50f, 0.50f),
        det(0.9f, 0.12f, 0.10f, 0.52f, 0.50f), /* overlaps the first: merged */
        det(0.8f, 0.60f, 0.60f, 0.90f, 0.90f), /* separate */
        det(0.7f, 0.00f, 0.00f, 0.05f, 0.05f), /* separate, small */
    };
    int n = km_weighted_nms(d, 4, 0.3f);
    assert_int_equal(n, 3);
    /* sorted by score; the merged box keeps the best score and is the
     * score-weighted mean of the two */
    assert_float_equal(d[0].score, 0.9f, 1e-6);
    float want = (0.9f * 0.12f + 0.6f * 0.10f) / 1.5f;
    assert_float_equal(d[0].xmin, want, 1e-6);
    assert_float_equal(d[0].kp[0][0], (0.9f * 0.32f + 0.6f * 0.30f) / 1.5f, 1e-6);
    assert_float_equal(d[1].score, 0.8f, 1e-6);
    assert_float_equal(d[1].xmin, 0.60f, 1e-6);
    assert_float_equal(d[2].score, 0.7f, 1e-6);
    assert_int_equal(km_weighted_nms(d, 0, 0.3f), 0);
}

static void test_iou(void **state)
{
    (void)state;
    float a[4] = {0, 0, 10, 10}, b[4] = {5, 0, 10, 10}, c[4] = {20, 20, 5, 5};
    assert_float_equal(km_box_iou(a, a), 1.0f, 1e-6);
    assert_float_equal(km_box_iou(a, b), 50.0f / 150.0f, 1e-6);
    assert_float_equal(km_box_iou(a, c), 0.0f, 0);
}

static void test_roi_from_points(void **state)
{
    (void)state;
    /* p1 straight above p0: no rotation, side 2 * 100 * 1.25 */
    km_roi r = km_roi_from_points(200, 300, 200, 200, 1.25f);
    assert_float_equal(r.cx, 200, 1e-4);
    assert_float_equal(r.cy, 300, 1e-4);
    assert_float_equal(r.w, 250, 1e-3);
    assert_float_equal(r.h, 250, 1e-3);
    assert_float_equal(r.rot, 0, 1e-6);
    /* p1 to the right of p0: the body lies on its side, +90 degrees */
    r = km_roi_from_points(0, 0, 50, 0, 1.0f);
    assert_float_equal(r.rot, PI_F / 2, 1e-5);
    assert_float_equal(r.w, 100, 1e-4);
    /* p1 below p0: upside down, +-180 degrees */
    r = km_roi_from_points(0, 0, 0, 10, 1.0f);
    assert_float_equal(fabsf(r.rot), PI_F, 1e-5);
    /* in the rotated crop, p1 is straight above the centre */
    r = km_roi_from_points(100, 100, 160, 180, 1.25f);
    float u, v;
    km_roi_from_image(&r, 256, 256, 160, 180, &u, &v);
    assert_float_equal(u, 128, 1e-3);
    assert_true(v < 128);
    assert_float_equal(128 - v, 256 / 2.5f, 1e-2);
}

static void test_letterbox_round_trip(void **state)
{
    (void)state;
    km_roi lb = km_roi_letterbox(640, 480);
    assert_float_equal(lb.w, 640, 0);
    assert_float_equal(lb.h, 640, 0);
    float u, v, x, y;
    /* the image's top-left corner sits 80 rows down in the square */
    km_roi_from_image(&lb, 256, 256, 0, 0, &u, &v);
    assert_float_equal(u, 0, 1e-4);
    assert_float_equal(v, 80 * 256.0f / 640, 1e-4);
    for (int i = 0; i < 50; i++) {
        float px = (float)(i * 37 % 640), py = (float)(i * 53 % 480);
        km_roi_from_image(&lb, 192, 192, px, py, &u, &v);
        km_roi_to_image(&lb, 192, 192, u, v, &x, &y);
        assert_float_equal(x, px, 1e-3);
        assert_float_equal(y, py, 1e-3);
    }
}

static void test_rotated_round_trip(void **state)
{
    (void)state;
    km_roi r = {320.5f, 211.25f, 300, 180, 0.7f};
    float u, v, x, y;
    for (int i = 0; i < 100; i++) {
        float pu = (float)(i % 10) * 25.6f, pv = (float)(i / 10) * 25.6f;
        km_roi_to_image(&r, 256, 256, pu, pv, &x, &y);
        km_roi_from_image(&r, 256, 256, x, y, &u, &v);
        assert_float_equal(u, pu, 1e-3);
        assert_float_equal(v, pv, 1e-3);
    }
    /* the crop centre is the ROI centre; a crop corner is half the diagonal
     * away */
    km_roi_to_image(&r, 256, 256, 128, 128, &x, &y);
    assert_float_equal(x, r.cx, 1e-4);
    assert_float_equal(y, r.cy, 1e-4);
    km_roi_to_image(&r, 256, 256, 0, 0, &x, &y);
    assert_float_equal(hypotf(x - r.cx, y - r.cy), hypotf(150, 90), 1e-3);
}

static km_image *gradient(int w, int h)
{
    km_image *img = km_image_new(w, h, KM_PIX_RGB24, 3);
    assert_non_null(img);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = km_image_row(img, y) + 3 * x;
            p[0] = (uint8_t)x;
            p[1] = (uint8_t)y;
            p[2] = 200;
        }
    return img;
}

static void test_sample_identity_and_border(void **state)
{
    (void)state;
    km_image *img = gradient(64, 48);
    /* a crop exactly over the image at 1:1 reproduces the pixels */
    km_roi r = {32, 24, 64, 48, 0};
    float *out = malloc(sizeof(float) * 64 * 48 * 3);
    assert_int_equal(km_roi_sample(img, &r, 64, 48, 1, 0, 0, 0, out), 0);
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 64; x++) {
            assert_float_equal(out[3 * (y * 64 + x)], (float)x, 1e-3);
            assert_float_equal(out[3 * (y * 64 + x) + 1], (float)y, 1e-3);
        }
    /* letterbox into 32x32 with scale/offset: outside rows are black ->
     * offset only */
    km_roi lb = km_roi_letterbox(64, 48);
    assert_int_equal(km_roi_sample(img, &lb, 32, 32, 2.0f / 255, -1, 0, 0, out), 0);
    assert_float_equal(out[0], -1.0f, 1e-6);
    assert_float_equal(out[3 * (31 * 32 + 16) + 2], -1.0f, 1e-6);
    /* the middle row is inside: blue channel 200 */
    assert_float_equal(out[3 * (16 * 32 + 16) + 2], 200 * 2.0f / 255 - 1, 1e-4);
    free(out);
    km_image_free(img);
}

static void test_sample_antialias(void **state)
{
    (void)state;
    km_image *img = gradient(200, 100);
    /* 2:1 downscale of a linear ramp keeps the ramp (the mean of a
     * symmetric filter); rounding gives integers */
    km_roi r = {100, 50, 200, 100, 0};
    float *out = malloc(sizeof(float) * 100 * 50 * 3);
    assert_int_equal(km_roi_sample(img, &r, 100, 50, 1, 0, 1, 0, out), 0);
    for (int x = 2; x < 98; x++)
        assert_float_equal(out[3 * (25 * 100 + x)], 2.0f * x + 0.5f, 1e-3);
    assert_int_equal(km_roi_sample(img, &r, 100, 50, 1, 0, 1, 1, out), 0);
    for (int i = 0; i < 100 * 50 * 3; i++)
        assert_float_equal(out[i], floorf(out[i]), 0);
    /* rotated ROI: always bilinear (no crash, finite values) */
    km_roi rr = {100, 50, 150, 150, 0.3f};
    assert_int_equal(km_roi_sample(img, &rr, 50, 50, 1, 0, 1, 0, out), 0);
    for (int i = 0; i < 50 * 50 * 3; i++)
        assert_true(isfinite(out[i]));
    /* bad arguments */
    km_roi bad = {0, 0, 0, 10, 0};
    assert_int_equal(km_roi_sample(img, &bad, 10, 10, 1, 0, 0, 0, out), KM_EINVAL);
    assert_int_equal(km_roi_sample(img, &r, 0, 10, 1, 0, 0, 0, out), KM_EINVAL);
    free(out);
    km_image_free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anchor_count_and_positions),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_weighted_nms),
        cmocka_unit_test(test_iou),
        cmocka_unit_test(test_roi_from_points),
        cmocka_unit_test(test_letterbox_round_trip),
        cmocka_unit_test(test_rotated_round_trip),
        cmocka_unit_test(test_sample_identity_and_border),
        cmocka_unit_test(test_sample_antialias),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
