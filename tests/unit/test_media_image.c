/* test_media_image.c - km_image allocation, conversion, resizing and
 * frame reference counting. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kinema/media.h"
#include "test_common.h"

static km_image *pattern(int w, int h, km_pixfmt fmt)
{
    km_image *img = km_image_new(w, h, fmt, 0);
    assert_non_null(img);
    int bpp = fmt == KM_PIX_RGB24 ? 3 : 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * bpp; x++)
            km_image_row(img, y)[x] = (uint8_t)(x * 7 + y * 13 + (x * y) % 5);
    return img;
}

static void test_new_layout_and_limits(void **state)
{
    (void)state;
    km_image *img = km_image_new(33, 7, KM_PIX_RGB24, 0);
    assert_non_null(img);
    assert_int_equal(img->channels, 3);
    assert_true(img->stride >= 99 && img->stride % 64 == 0);
    assert_true((uintptr_t)img->data % 64 == 0);
    for (int y = 0; y < 7; y++)
        for (int x = 0; x < 99; x++)
            assert_int_equal(km_image_row(img, y)[x], 0);
    km_image_free(img);
    km_image *f = km_image_new(10, 4, KM_PIX_FLOAT, 3);
    assert_non_null(f);
    assert_true(f->plane_stride >= f->stride * 4);
    km_image_free(f);
    assert_null(km_image_new(0, 5, KM_PIX_GRAY8, 0));
    assert_null(km_image_new(KM_IMAGE_MAX_DIM + 1, 5, KM_PIX_GRAY8, 0));
    assert_null(km_image_new(5, 5, KM_PIX_FLOAT, 0));
    assert_null(km_image_new(5, 5, KM_PIX_FLOAT, 5));
    km_image_free(NULL);
}

static void test_clone_is_deep(void **state)
{
    (void)state;
    km_image *a = pattern(17, 9, KM_PIX_RGB24);
    km_image *b = km_image_clone(a);
    assert_true(tc_images_equal(a, b));
    km_image_row(b, 3)[5] ^= 0xFF;
    assert_false(tc_images_equal(a, b));
    km_image_free(a);
    km_image_free(b);
}

static void test_rgb_gray_conversion(void **state)
{
    (void)state;
    km_image *rgb = km_image_new(4, 1, KM_PIX_RGB24, 0);
    const uint8_t px[12] = { 255, 0, 0, 0, 255, 0, 0, 0, 255, 200, 200, 200 };
    memcpy(rgb->data, px, 12);
    km_image *g = km_image_convert(rgb, KM_PIX_GRAY8, 1, 0);
    assert_non_null(g);
    assert_int_equal(g->data[0], 76);  /* 0.299 * 255 */
    assert_int_equal(g->data[1], 150); /* 0.587 * 255 */
    assert_int_equal(g->data[2], 29);  /* 0.114 * 255 */
    assert_int_equal(g->data[3], 200);
    km_image *back = km_image_convert(g, KM_PIX_RGB24, 1, 0);
    assert_int_equal(back->data[9], 200);
    assert_int_equal(back->data[3], 150);
    assert_int_equal(back->data[4], 150);
    km_image_free(rgb);
    km_image_free(g);
    km_image_free(back);
}

static void test_float_round_trip(void **state)
{
    (void)state;
    km_image *a = pattern(13, 5, KM_PIX_RGB24);
    km_image *f = km_image_convert(a, KM_PIX_FLOAT, 1.0f / 127.5f, -1.0f);
    assert_int_equal(f->channels, 3);
    assert_true(fabsf(km_image_plane(f, 0)[0] - (a->data[0] / 127.5f - 1.0f)) < 1e-6f);
    km_image *b = km_image_convert(f, KM_PIX_RGB24, 1.0f / 127.5f, -1.0f);
    assert_true(tc_images_equal(a, b));
    km_image_free(a);
    km_image_free(f);
    km_image_free(b);
}

static void test_resize_same_size_is_copy(void **state)
{
    (void)state;
    km_image *a = pattern(31, 17, KM_PIX_RGB24);
    for (int m = KM_INTERP_NEAREST; m <= KM_INTERP_BICUBIC; m++) {
        km_image *b = km_image_resize(a, 31, 17, (km_interp)m);
        assert_true(tc_images_equal(a, b));
        km_image_free(b);
    }
    km_image_free(a);
}

static void test_resize_nearest_upscale_replicates(void **state)
{
    (void)state;
    km_image *a = pattern(8, 6, KM_PIX_RGB24);
    km_image *b = km_image_resize(a, 16, 12, KM_INTERP_NEAREST);
    assert_non_null(b);
    for (int y = 0; y < 12; y++)
        for (int x = 0; x < 16; x++)
            for (int c = 0; c < 3; c++)
                assert_int_equal(km_image_row(b, y)[x * 3 + c], km_image_row(a, y / 2)[(x / 2) * 3 + c]);
    km_image_free(a);
    km_image_free(b);
}

static void test_resize_keeps_constant_and_averages(void **state)
{
    (void)state;
    /* A constant colour stays that colour whatever the filter. */
    km_image *c = km_image_new(50, 40, KM_PIX_RGB24, 0);
    for (int y = 0; y < 40; y++)
        for (int x = 0; x < 50; x++) {
            uint8_t *p = km_image_row(c, y) + x * 3;
            p[0] = 10, p[1] = 128, p[2] = 250;
        }
    for (int m = KM_INTERP_NEAREST; m <= KM_INTERP_BICUBIC; m++) {
        km_image *d = km_image_resize(c, 23, 71, (km_interp)m);
        assert_int_equal(d->width, 23);
        assert_int_equal(d->height, 71);
        for (int y = 0; y < 71; y++)
            for (int x = 0; x < 23; x++) {
                const uint8_t *p = km_image_row(d, y) + x * 3;
                assert_true(abs(p[0] - 10) <= 1 && abs(p[1] - 128) <= 1 && abs(p[2] - 250) <= 1);
            }
        km_image_free(d);
    }
    km_image_free(c);
    /* Area halving of a 2x2 checkerboard gives its mean. */
    km_image *g = km_image_new(64, 64, KM_PIX_GRAY8, 0);
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++)
            km_image_row(g, y)[x] = ((x + y) & 1) ? 200 : 0;
    km_image *h = km_image_resize(g, 32, 32, KM_INTERP_AREA);
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++)
            assert_true(abs(km_image_row(h, y)[x] - 100) <= 2);
    km_image_free(g);
    km_image_free(h);
}

static void test_resize_rejects_bad_input(void **state)
{
    (void)state;
    km_image *f = km_image_new(4, 4, KM_PIX_FLOAT, 1);
    assert_null(km_image_resize(f, 2, 2, KM_INTERP_BILINEAR));
    km_image *g = pattern(4, 4, KM_PIX_GRAY8);
    assert_null(km_image_resize(g, 0, 2, KM_INTERP_BILINEAR));
    assert_null(km_image_resize(g, 2, KM_IMAGE_MAX_DIM + 1, KM_INTERP_BILINEAR));
    km_image_free(f);
    km_image_free(g);
}

static void test_frame_refcount(void **state)
{
    (void)state;
    km_frame *f = km_frame_new(pattern(4, 4, KM_PIX_GRAY8), 7, 700, 0.7);
    assert_non_null(f);
    assert_int_equal(f->index, 7);
    assert_int_equal(f->pts, 700);
    assert_ptr_equal(km_frame_ref(f), f);
    km_frame_unref(f);
    assert_int_equal(f->img->width, 4); /* one reference left */
    km_frame_unref(f);
    km_frame_unref(NULL);
    assert_null(km_frame_new(NULL, 0, 0, 0));
}

static void *ref_unref_many(void *arg)
{
    km_frame *f = arg;
    for (int i = 0; i < 100000; i++) {
        km_frame_ref(f);
        km_frame_unref(f);
    }
    km_frame_unref(f); /* the reference this thread was given */
    return NULL;
}

static void test_frame_refcount_threads(void **state)
{
    (void)state;
    km_frame *f = km_frame_new(pattern(8, 8, KM_PIX_RGB24), 0, 0, 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        km_frame_ref(f);
        assert_int_equal(pthread_create(&t[i], NULL, ref_unref_many, f), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(__atomic_load_n(&f->refcount_, __ATOMIC_SEQ_CST), 1);
    km_frame_unref(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_layout_and_limits),
        cmocka_unit_test(test_clone_is_deep),
        cmocka_unit_test(test_rgb_gray_conversion),
        cmocka_unit_test(test_float_round_trip),
        cmocka_unit_test(test_resize_same_size_is_copy),
        cmocka_unit_test(test_resize_nearest_upscale_replicates),
        cmocka_unit_test(test_resize_keeps_constant_and_averages),
        cmocka_unit_test(test_resize_rejects_bad_input),
        cmocka_unit_test(test_frame_refcount),
        cmocka_unit_test(test_frame_refcount_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
