/*
 * test_vision_filters.c - Gaussian, median, bilateral, Sobel, Scharr,
 * Laplacian and Canny against OpenCV 4.6 on the same images
 * (tests/media/basketball1.png and messi5.jpg, RGB and gray), single
 * threaded and on a 2-thread pool. Case lists mirror bench/vision/cv_ref.py.
 */
#include "test_vision_common.h"

static const struct { int k; double s; } GAUSS[] = {
    {3, 0}, {5, 0}, {7, 1.5}, {0, 2.0}, {9, 0}, {11, 0}, {15, 3.0}, {5, 0.8}};
static const int MEDIAN[] = {3, 5, 7, 11, 17};
static const int SOBEL[][3] = {{1, 0, 3}, {0, 1, 3}, {1, 1, 3}, {2, 0, 5}, {1, 0, 5}, {0, 2, 3}, {1, 0, 1}};
static const int SCHARR[][2] = {{1, 0}, {0, 1}};
static const int LAPLACE[] = {1, 3, 5};
static const struct { double lo, hi; int ap, l2; } CANNY[] = {
    {100, 200, 3, 0}, {50, 150, 3, 1}, {80, 160, 5, 0}, {200, 100, 3, 1}};
static const struct { int d; double sc, ss; } BILATERAL[] = {{9, 75, 75}, {5, 30, 10}};

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

static const char *IMAGES[] = {"tests/media/basketball1.png", "tests/media/messi5.jpg"};

typedef struct {
    km_image *in[2]; /* rgb, gray */
    km_pool *pool;
} fixture;

static const char *FMT[2] = {"rgb", "gray"};

static int setup_image(void **state, int which)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    vt_make_dir();
    assert_int_equal(vt_run_ref("filters %s %s", IMAGES[which], vt_dir), 0);
    f->in[0] = vt_load_image("in_rgb.npy");
    f->in[1] = vt_load_image("in_gray.npy");
    assert_non_null(f->in[0]);
    assert_non_null(f->in[1]);
    f->pool = km_pool_create(2);
    assert_non_null(f->pool);
    *state = f;
    return 0;
}

static int setup0(void **state) { return setup_image(state, 0); }
static int setup1(void **state) { return setup_image(state, 1); }

static int teardown(void **state)
{
    fixture *f = *state;
    km_image_free(f->in[0]);
    km_image_free(f->in[1]);
    km_pool_destroy(f->pool);
    free(f);
    vt_cleanup();
    return 0;
}

static void load_ref(const char *tag, int i, int fmt, vt_array *ref)
{
    char name[64];
    snprintf(name, sizeof name, "%s%d_%s.npy", tag, i, FMT[fmt]);
    assert_int_equal(vt_load(name, ref), 0);
}

static void check_u8(const char *tag, int i, int fmt, const km_image *out, int tol, double min_agree)
{
    vt_array ref;
    load_ref(tag, i, fmt, &ref);
    size_t nd = 0;
    int m = vt_maxdiff_u8(out, &ref, &nd);
    double agree = 1.0 - (double)nd / ((double)out->width * out->height * out->channels);
    if (m > tol || agree < min_agree)
        fprintf(stderr, "%s%d %s: max diff %d, agreement %.5f\n", tag, i, FMT[fmt], m, agree);
    assert_true(m <= tol);
    assert_true(agree >= min_agree);
    free(ref.data);
}

static void check_s16(const char *tag, int i, int fmt, const km_image16 *out, int tol)
{
    vt_array ref;
    load_ref(tag, i, fmt, &ref);
    int m = vt_maxdiff_s16(out, &ref);
    if (m > tol)
        fprintf(stderr, "%s%d %s: max diff %d\n", tag, i, FMT[fmt], m);
    assert_true(m <= tol);
    free(ref.data);
}

static void test_gaussian(void **state)
{
    fixture *f = *state;
    for (int fmt = 0; fmt < 2; fmt++)
        for (int i = 0; i < N(GAUSS); i++)
            for (int t = 0; t < 2; t++) {
                km_image *out = km_image_new(f->in[fmt]->width, f->in[fmt]->height, f->in[fmt]->fmt, 0);
                assert_int_equal(km_gaussian_blur(f->in[fmt], out, GAUSS[i].k, GAUSS[i].s, t ? f->pool : NULL), 0);
                check_u8("gauss", i, fmt, out, 1, 0.0);
                km_image_free(out);
            }
}

static void test_median(void **state)
{
    fixture *f = *state;
    for (int fmt = 0; fmt < 2; fmt++)
        for (int i = 0; i < N(MEDIAN); i++)
            for (int t = 0; t < 2; t++) {
                km_image *out = km_image_new(f->in[fmt]->width, f->in[fmt]->height, f->in[fmt]->fmt, 0);
                assert_int_equal(km_median_blur(f->in[fmt], out, MEDIAN[i], t ? f->pool : NULL), 0);
                check_u8("median", i, fmt, out, 0, 1.0);
                km_image_free(out);
            }
}

static void test_bilateral(void **state)
{
    fixture *f = *state;
    for (int fmt = 0; fmt < 2; fmt++)
        for (int i = 0; i < N(BILATERAL); i++) {
            km_image *out = km_image_new(f->in[fmt]->width, f->in[fmt]->height, f->in[fmt]->fmt, 0);
            assert_int_equal(km_bilateral(f->in[fmt], out, BILATERAL[i].d, BILATERAL[i].sc,
                                          BILATERAL[i].ss, f->pool), 0);
            /* float weights: OpenCV uses a fast exp table; allow 1 level */
            check_u8("bilateral", i, fmt, out, 1, 0.98);
            km_image_free(out);
        }
}

static void test_sobel_scharr_laplacian(void **state)
{
    fixture *f = *state;
    for (int fmt = 0; fmt < 2; fmt++) {
        const km_image *in = f->in[fmt];
        km_image16 *out = km_image16_new(in->width, in->height, in->channels);
        assert_non_null(out);
        for (int i = 0; i < N(SOBEL); i++) {
            assert_int_equal(km_sobel(in, out, SOBEL[i][0], SOBEL[i][1], SOBEL[i][2], f->pool), 0);
            check_s16("sobel", i, fmt, out, 1);
        }
        for (int i = 0; i < N(SCHARR); i++) {
            assert_int_equal(km_scharr(in, out, SCHARR[i][0], SCHARR[i][1], NULL), 0);
            check_s16("scharr", i, fmt, out, 1);
        }
        for (int i = 0; i < N(LAPLACE); i++) {
            assert_int_equal(km_laplacian(in, out, LAPLACE[i], f->pool), 0);
            check_s16("laplace", i, fmt, out, 1);
        }
        km_image16_free(out);
    }
}

static void test_canny(void **state)
{
    fixture *f = *state;
    for (int fmt = 0; fmt < 2; fmt++)
        for (int i = 0; i < N(CANNY); i++)
            for (int t = 0; t < 2; t++) {
                km_image *out = km_image_new(f->in[fmt]->width, f->in[fmt]->height, KM_PIX_GRAY8, 0);
                assert_int_equal(km_canny(f->in[fmt], out, CANNY[i].lo, CANNY[i].hi, CANNY[i].ap,
                                          CANNY[i].l2, t ? f->pool : NULL), 0);
                check_u8("canny", i, fmt, out, 255, 0.99);
                km_image_free(out);
            }
}

static void test_bad_arguments(void **state)
{
    fixture *f = *state;
    km_image *out = km_image_new(f->in[1]->width, f->in[1]->height, KM_PIX_GRAY8, 0);
    assert_int_equal(km_gaussian_blur(f->in[1], out, 4, 0, NULL), KM_EINVAL);
    assert_non_null(strstr(km_errmsg(), "ksize"));
    assert_int_equal(km_gaussian_blur(f->in[0], out, 3, 0, NULL), KM_EINVAL);
    assert_int_equal(km_median_blur(f->in[1], out, 2, NULL), KM_EINVAL);
    assert_int_equal(km_canny(f->in[1], out, 10, 20, 4, 0, NULL), KM_EINVAL);
    km_image16 *d = km_image16_new(f->in[1]->width, f->in[1]->height, 1);
    assert_int_equal(km_sobel(f->in[1], d, 0, 0, 3, NULL), KM_EINVAL);
    assert_int_equal(km_sobel(f->in[1], d, 1, 0, 7, NULL), KM_EINVAL);
    km_image16_free(d);
    /* in place Gaussian equals out of place */
    km_image *a = km_image_clone(f->in[1]);
    assert_int_equal(km_gaussian_blur(f->in[1], out, 5, 0, f->pool), 0);
    assert_int_equal(km_gaussian_blur(a, a, 5, 0, f->pool), 0);
    for (int y = 0; y < a->height; y++)
        assert_memory_equal(km_image_row(a, y), km_image_row(out, y), (size_t)a->width);
    km_image_free(a);
    km_image_free(out);
}

static void test_tiny_images(void **state)
{
    (void)state;
    /* images smaller than the kernels still work (reflect-101 repeats) */
    for (int w = 1; w <= 4; w++) {
        km_image *src = km_image_new(w, 3, KM_PIX_RGB24, 0), *dst = km_image_new(w, 3, KM_PIX_RGB24, 0);
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < w * 3; x++)
                km_image_row(src, y)[x] = (uint8_t)(x * 40 + y * 7);
        assert_int_equal(km_gaussian_blur(src, dst, 7, 0, NULL), 0);
        assert_int_equal(km_median_blur(src, dst, 5, NULL), 0);
        assert_int_equal(km_median_blur(src, dst, 9, NULL), 0);
        assert_int_equal(km_bilateral(src, dst, 5, 20, 20, NULL), 0);
        km_image16 *d = km_image16_new(w, 3, 3);
        assert_int_equal(km_sobel(src, d, 1, 0, 5, NULL), 0);
        assert_int_equal(km_laplacian(src, d, 3, NULL), 0);
        km_image16_free(d);
        km_image *e = km_image_new(w, 3, KM_PIX_GRAY8, 0);
        assert_int_equal(km_canny(src, e, 10, 30, 3, 1, NULL), 0);
        km_image_free(e);
        km_image_free(src);
        km_image_free(dst);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gaussian, setup0, teardown),
        cmocka_unit_test_setup_teardown(test_gaussian, setup1, teardown),
        cmocka_unit_test_setup_teardown(test_median, setup0, teardown),
        cmocka_unit_test_setup_teardown(test_median, setup1, teardown),
        cmocka_unit_test_setup_teardown(test_bilateral, setup0, teardown),
        cmocka_unit_test_setup_teardown(test_sobel_scharr_laplacian, setup0, teardown),
        cmocka_unit_test_setup_teardown(test_sobel_scharr_laplacian, setup1, teardown),
        cmocka_unit_test_setup_teardown(test_canny, setup0, teardown),
        cmocka_unit_test_setup_teardown(test_canny, setup1, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup0, teardown),
        cmocka_unit_test(test_tiny_images),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
