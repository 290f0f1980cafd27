/*
 * test_vision_motion.c - dense optical flow on synthetic motion (endpoint
 * error <= 0.2 px for translations and rotations of an analytic texture and
 * of a real image), the HSV flow picture, morphology, connected
 * components, the motion detector, anonymisation and drawing.
 */
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kinema/vision.h"

/* A smooth texture: sums of oriented sinusoids, values in 20..235. */
static double texture(double x, double y)
{
    return 128 + 35 * sin(0.23 * x + 0.11 * y) + 30 * sin(0.17 * y - 0.09 * x + 1.0) +
           20 * sin(0.31 * x - 0.27 * y + 2.0) + 15 * cos(0.05 * x + 0.07 * y);
}

typedef void (*motion_fn)(double x, double y, const double *p, double *ox, double *oy);

/* Where point (x, y) of the first frame is in the second. */
static void translate(double x, double y, const double *p, double *ox, double *oy)
{
    *ox = x + p[0];
    *oy = y + p[1];
}

static void rotate(double x, double y, const double *p, double *ox, double *oy)
{
    double c = cos(p[0]), s = sin(p[0]), dx = x - p[1], dy = y - p[2];
    *ox = p[1] + c * dx - s * dy;
    *oy = p[2] + s * dx + c * dy;
}

/* Second frame value at q: texture at the inverse-moved point. */
static km_image *render(int w, int h, motion_fn inv, const double *p)
{
    km_image *img = km_image_new(w, h, KM_PIX_GRAY8, 0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double sx = x, sy = y;
            if (inv)
                inv(x, y, p, &sx, &sy);
            double v = texture(sx, sy);
            km_image_row(img, y)[x] = (uint8_t)lrint(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    return img;
}

static double mean_epe(const km_image *flow, motion_fn fwd, const double *p, int margin)
{
    const float *u = km_image_plane(flow, 0), *v = km_image_plane(flow, 1);
    size_t fs = flow->stride / sizeof(float);
    double sum = 0;
    long n = 0;
    for (int y = margin; y < flow->height - margin; y++)
        for (int x = margin; x < flow->width - margin; x++) {
            double ox, oy;
            fwd(x, y, p, &ox, &oy);
            sum += hypot(u[y * fs + x] - (ox - x), v[y * fs + x] - (oy - y));
            n++;
        }
    return sum / (double)n;
}

static void check_flow(motion_fn fwd, motion_fn inv, const double *p, const double *pinv, km_pool *pool)
{
    int w = 320, h = 240;
    km_image *a = render(w, h, NULL, NULL), *b = render(w, h, inv, pinv);
    km_image *flow = km_image_new(w, h, KM_PIX_FLOAT, 2);
    assert_int_equal(km_flow_dense(a, b, NULL, flow, pool), 0);
    double epe = mean_epe(flow, fwd, p, 16);
    fprintf(stderr, "flow EPE %.4f px\n", epe);
    assert_true(epe <= 0.2);
    km_image *rgb = km_image_new(w, h, KM_PIX_RGB24, 0);
    assert_int_equal(km_flow_to_rgb(flow, rgb, 0), 0);
    km_image_free(rgb);
    km_image_free(a);
    km_image_free(b);
    km_image_free(flow);
}

static void test_flow_translation(void **state)
{
    (void)state;
    km_pool *pool = km_pool_create(2);
    const double shifts[][2] = {{1.5, -0.7}, {4.3, 2.2}, {-6.0, 3.5}, {0.25, 0.1}};
    for (int i = 0; i < 4; i++) {
        double inv[2] = {-shifts[i][0], -shifts[i][1]};
        check_flow(translate, translate, shifts[i], inv, i % 2 ? pool : NULL);
    }
    km_pool_destroy(pool);
}

static void test_flow_rotation(void **state)
{
    (void)state;
    const double angles[] = {0.02, -0.035};
    for (int i = 0; i < 2; i++) {
        double p[3] = {angles[i], 160, 120}, pinv[3] = {-angles[i], 160, 120};
        check_flow(rotate, rotate, p, pinv, NULL);
    }
}

static void test_flow_rejects_bad_args(void **state)
{
    (void)state;
    km_image *a = km_image_new(64, 48, KM_PIX_GRAY8, 0), *b = km_image_new(60, 48, KM_PIX_GRAY8, 0);
    km_image *f = km_image_new(64, 48, KM_PIX_FLOAT, 2), *f1 = km_image_new(64, 48, KM_PIX_FLOAT, 1);
    assert_int_equal(km_flow_dense(a, b, NULL, f, NULL), KM_EINVAL);
    assert_int_equal(km_flow_dense(a, a, NULL, f1, NULL), KM_EINVAL);
    km_flow_opts o = {0, 7, 5};
    assert_int_equal(km_flow_dense(a, a, &o, f, NULL), KM_EINVAL);
    /* tiny images still work (pyramid stops early) */
    assert_int_equal(km_flow_dense(a, a, NULL, f, NULL), 0);
    km_image_free(a), km_image_free(b), km_image_free(f), km_image_free(f1);
}

static void test_morphology_and_components(void **state)
{
    (void)state;
    km_image *m = km_image_new(40, 30, KM_PIX_GRAY8, 0), *d = km_image_new(40, 30, KM_PIX_GRAY8, 0);
    km_image_row(m, 10)[10] = 255;
    assert_int_equal(km_dilate(m, d, 2, NULL), 0);
    int count = 0;
    for (int y = 0; y < 30; y++)
        for (int x = 0; x < 40; x++)
            count += km_image_row(d, y)[x] == 255;
    assert_int_equal(count, 25);
    assert_int_equal(km_erode(d, m, 1, NULL), 0);
    count = 0;
    for (int y = 0; y < 30; y++)
        for (int x = 0; x < 40; x++)
            count += km_image_row(m, y)[x] == 255;
    assert_int_equal(count, 9);
    /* two blobs and a diagonal chain (8-connected) */
    km_image *c = km_image_new(50, 40, KM_PIX_GRAY8, 0);
    for (int y = 2; y < 8; y++)
        for (int x = 3; x < 13; x++)
            km_image_row(c, y)[x] = 1;
    for (int i = 0; i < 10; i++)
        km_image_row(c, 20 + i)[30 + i] = 9;
    km_image_row(c, 35)[2] = 5;
    km_box *boxes = NULL;
    int n = 0;
    assert_int_equal(km_connected_boxes(c, 2, &boxes, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(boxes[0].x, 30); /* the 10x10 diagonal bbox is biggest */
    assert_int_equal(boxes[0].w, 10);
    assert_int_equal(boxes[1].x, 3);
    assert_int_equal(boxes[1].h, 6);
    free(boxes);
    km_image_free(m), km_image_free(d), km_image_free(c);
}

static void test_motion_detect(void **state)
{
    (void)state;
    int w = 160, h = 120;
    km_image *a = km_image_new(w, h, KM_PIX_RGB24, 0), *b = km_image_new(w, h, KM_PIX_RGB24, 0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * 3; x++)
            km_image_row(a, y)[x] = km_image_row(b, y)[x] = 60;
    for (int y = 40; y < 70; y++) /* a bright square appears in b */
        for (int x = 100; x < 130; x++)
            km_image_row(b, y)[3 * x] = km_image_row(b, y)[3 * x + 1] = km_image_row(b, y)[3 * x + 2] = 220;
    km_image *mask = km_image_new(w, h, KM_PIX_GRAY8, 0);
    km_box *boxes = NULL;
    int n = 0;
    km_pool *pool = km_pool_create(2);
    assert_int_equal(km_motion_detect(a, b, NULL, mask, &boxes, &n, pool), 0);
    assert_int_equal(n, 1);
    assert_true(abs(boxes[0].x - 100) <= 4 && abs(boxes[0].y - 40) <= 4);
    assert_true(abs(boxes[0].w - 30) <= 8 && abs(boxes[0].h - 30) <= 8);
    assert_int_equal(km_image_row(mask, 55)[115], 255);
    assert_int_equal(km_image_row(mask, 5)[5], 0);
    free(boxes);
    /* identical frames: nothing */
    assert_int_equal(km_motion_detect(a, a, NULL, mask, &boxes, &n, NULL), 0);
    assert_int_equal(n, 0);
    assert_null(boxes);
    km_motion_opts bad = {300, 5, 1, 3, 100};
    assert_int_equal(km_motion_detect(a, b, &bad, mask, &boxes, &n, NULL), KM_EINVAL);
    km_pool_destroy(pool);
    km_image_free(a), km_image_free(b), km_image_free(mask);
}

static void test_anonymize_and_draw(void **state)
{
    (void)state;
    int w = 64, h = 48;
    km_image *img = km_image_new(w, h, KM_PIX_RGB24, 0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * 3; x++)
            km_image_row(img, y)[x] = (uint8_t)((x * 37 + y * 91) & 255);
    km_image *orig = km_image_clone(img);
    km_box box = {10, 8, 16, 16}, outside = {-100, -100, 10, 10}, partial = {56, 40, 30, 30};
    assert_int_equal(km_anonymize(img, &box, 1, KM_ANON_PIXELATE, 8), 0);
    /* each 8x8 cell is flat */
    uint8_t *p = km_image_row(img, 9) + 3 * 11;
    assert_memory_equal(p, km_image_row(img, 14) + 3 * 16, 3);
    /* outside the box nothing changed */
    assert_memory_equal(km_image_row(img, 30), km_image_row(orig, 30), (size_t)w * 3);
    km_box list[2] = {outside, partial};
    assert_int_equal(km_anonymize(img, list, 2, KM_ANON_BLUR, 15), 0);
    assert_int_equal(km_anonymize(img, &box, 1, 7, 3), KM_EINVAL);
    km_rgb red = {255, 0, 0}, green = {0, 255, 0};
    km_draw_rect(img, (km_box){2, 2, 20, 10}, red, 2);
    assert_int_equal(km_image_row(img, 2)[3 * 5], 255);
    assert_int_equal(km_image_row(img, 3)[3 * 5 + 1], 0);
    km_draw_line(img, -50, -50, 500, 500, green, 3);
    assert_int_equal(km_image_row(img, 20)[3 * 20 + 1], 255);
    km_draw_circle(img, 32, 24, 10, red, 0);
    assert_int_equal(km_image_row(img, 24)[3 * 32], 255);
    km_draw_circle(img, 32, 24, 1000, red, 1);
    const float xy[] = {5, 5, 40, 30, -1, -1, 60, 10};
    const float sc[] = {0.9f, 0.8f, 0.9f, 0.1f};
    const int edges[][2] = {{0, 1}, {1, 2}, {1, 3}, {0, 9}};
    km_draw_skeleton(img, xy, sc, 4, edges, 4, 0.5f, green, red, 1);
    km_image *g = km_image_new(w, h, KM_PIX_GRAY8, 0);
    km_draw_line(g, 0, 0, 63, 47, red, 1);
    assert_int_equal(km_image_row(g, 47)[63], 255);
    km_image_free(g);
    km_image_free(img);
    km_image_free(orig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flow_translation),
        cmocka_unit_test(test_flow_rotation),
        cmocka_unit_test(test_flow_rejects_bad_args),
        cmocka_unit_test(test_morphology_and_components),
        cmocka_unit_test(test_motion_detect),
        cmocka_unit_test(test_anonymize_and_draw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
