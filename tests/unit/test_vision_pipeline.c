/*
 * test_vision_pipeline.c - the filter pipeline string: parsing, validation
 * messages naming the bad step, output formats of each step, and state
 * across frames for motion and flow.
 */
#include <stddef.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kinema/vision.h"

static km_image *pattern(int w, int h, km_pixfmt fmt, int shift)
{
    km_image *img = km_image_new(w, h, fmt, 0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * img->channels; x++)
            km_image_row(img, y)[x] = (uint8_t)(((x / img->channels + shift) / 8 + y / 8) % 2 ? 200 : 40);
    return img;
}

static void expect_error(const char *spec, const char *fragment)
{
    km_pipeline *p = (km_pipeline *)1;
    assert_int_equal(km_pipeline_parse(spec, &p), KM_EINVAL);
    assert_null(p);
    if (!strstr(km_errmsg(), fragment)) {
        fprintf(stderr, "spec '%s': message '%s' lacks '%s'\n", spec, km_errmsg(), fragment);
        fail();
    }
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_error("", "step 1 is empty");
    expect_error("gray|", "step 2 is empty");
    expect_error("gray||canny", "step 2 is empty");
    expect_error("gray|blurr:3", "step 2 'blurr': unknown filter");
    expect_error("gaussian:4", "step 1 'gaussian': ksize must be an odd");
    expect_error("gaussian:0", "sigma > 0");
    expect_error("median:2", "step 1 'median'");
    expect_error("median:abc", "ksize 'abc' is not a number");
    expect_error("gray|canny:10:20:1:5", "step 2 'canny': takes at most 3");
    expect_error("canny:-1", "low -1 outside");
    expect_error("sobel:0:0", "dx + dy");
    expect_error("sobel:1:0:4", "ksize must be 1, 3 or 5");
    expect_error("scharr:1:1", "(dx, dy)");
    expect_error("anonymize:smudge", "mode 'smudge' is not a number");
    expect_error("dilate:1.5", "whole numbers");
    char longspec[5000];
    memset(longspec, 'a', sizeof longspec - 1);
    longspec[sizeof longspec - 1] = 0;
    expect_error(longspec, "exceeds");
    char many[400] = "gray";
    for (int i = 0; i < 40; i++)
        strcat(many, "|gray");
    expect_error(many, "more than");
}

static void test_parse_ok(void **state)
{
    (void)state;
    const char *good[] = {"gray|gaussian:7:1.5|canny:100:200", " gray | median:5 ", "blur:0:2.5",
                          "bilateral:9:75:75|sobel:1:0:5|laplacian:1", "scharr:0:1|threshold:30",
                          "dilate:2|erode|rgb", "motion:20", "motionboxes", "flow", "canny:50:150:1"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        km_pipeline *p = NULL;
        int rc = km_pipeline_parse(good[i], &p);
        if (rc)
            fprintf(stderr, "'%s': %s\n", good[i], km_errmsg());
        assert_int_equal(rc, 0);
        assert_true(km_pipeline_steps(p) >= 1);
        km_pipeline_free(p);
    }
    km_pipeline_free(NULL);
}

static void run_expect(const char *spec, const km_image *in, km_pixfmt fmt)
{
    km_pipeline *p = NULL;
    assert_int_equal(km_pipeline_parse(spec, &p), 0);
    km_image *out = NULL;
    km_pool *pool = km_pool_create(2);
    int rc = km_pipeline_run(p, in, &out, pool);
    if (rc)
        fprintf(stderr, "'%s': %s\n", spec, km_errmsg());
    assert_int_equal(rc, 0);
    assert_int_equal(out->fmt, fmt);
    assert_int_equal(out->width, in->width);
    assert_int_equal(out->height, in->height);
    km_image_free(out);
    km_pool_destroy(pool);
    km_pipeline_free(p);
}

static void test_step_outputs(void **state)
{
    (void)state;
    km_image *rgb = pattern(96, 64, KM_PIX_RGB24, 0), *gray = pattern(96, 64, KM_PIX_GRAY8, 0);
    run_expect("gray", rgb, KM_PIX_GRAY8);
    run_expect("rgb", gray, KM_PIX_RGB24);
    run_expect("gaussian:7:1.5", rgb, KM_PIX_RGB24);
    run_expect("median:7", gray, KM_PIX_GRAY8);
    run_expect("bilateral:5:30:5", rgb, KM_PIX_RGB24);
    run_expect("sobel:1:1:3|scharr:1:0|laplacian:5", rgb, KM_PIX_RGB24);
    run_expect("canny", rgb, KM_PIX_GRAY8);
    run_expect("gray|canny:50:150:1|dilate:1|erode:1", rgb, KM_PIX_GRAY8);
    run_expect("threshold:100", gray, KM_PIX_GRAY8);
    run_expect("motion", rgb, KM_PIX_GRAY8);
    run_expect("motionboxes", rgb, KM_PIX_RGB24);
    run_expect("flow", gray, KM_PIX_RGB24);
    km_image_free(rgb);
    km_image_free(gray);
}

static void test_state_across_frames(void **state)
{
    (void)state;
    km_pipeline *p = NULL;
    assert_int_equal(km_pipeline_parse("motion:20", &p), 0);
    km_image *a = pattern(96, 64, KM_PIX_GRAY8, 0), *b = pattern(96, 64, KM_PIX_GRAY8, 4), *out = NULL;
    assert_int_equal(km_pipeline_run(p, a, &out, NULL), 0);
    long on = 0;
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 96; x++)
            on += km_image_row(out, y)[x] != 0;
    assert_int_equal(on, 0); /* first frame: no motion */
    km_image_free(out);
    assert_int_equal(km_pipeline_run(p, b, &out, NULL), 0);
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 96; x++)
            on += km_image_row(out, y)[x] != 0;
    assert_true(on > 500); /* the pattern moved */
    km_image_free(out);
    /* a frame of another size restarts the state instead of failing */
    km_image *c = pattern(50, 40, KM_PIX_GRAY8, 0);
    assert_int_equal(km_pipeline_run(p, c, &out, NULL), 0);
    km_image_free(out);
    km_image_free(a), km_image_free(b), km_image_free(c);
    km_pipeline_free(p);
}

static void test_faces_step_and_missing_cascade(void **state)
{
    (void)state;
    setenv("KINEMA_HAAR_DIR", "/nonexistent", 1);
    km_pipeline *p = NULL;
    assert_int_equal(km_pipeline_parse("faces", &p), KM_ENOTFOUND);
    assert_non_null(strstr(km_errmsg(), "/nonexistent"));
    unsetenv("KINEMA_HAAR_DIR");
    km_image *rgb = pattern(96, 64, KM_PIX_RGB24, 0);
    run_expect("faces|anonymize:blur:9", rgb, KM_PIX_RGB24);
    km_image_free(rgb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_step_outputs),
        cmocka_unit_test(test_state_across_frames),
        cmocka_unit_test(test_faces_step_and_missing_cascade),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
