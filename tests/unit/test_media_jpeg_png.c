/* test_media_jpeg_png.c - JPEG (libjpeg-turbo) and PNG (libpng) codecs and
 * file load/save: quality effect, exact PNG round trips, every PNG colour
 * type / bit depth normalised to RGB24 or GRAY8, the test images. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <png.h>

#include "kinema/media.h"
#include "test_common.h"

static int setup_dir(void **state)
{
    (void)state;
    return tc_tmpdir_make("km_imgio");
}

static km_image *smooth(int w, int h, km_pixfmt fmt)
{
    km_image *img = km_image_new(w, h, fmt, 0);
    int bpp = fmt == KM_PIX_RGB24 ? 3 : 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < bpp; c++)
                km_image_row(img, y)[x * bpp + c] =
                    (uint8_t)(128 + 100 * sin(x / 9.0 + c) * cos(y / 13.0 - c));
    return img;
}

static void jpeg_at(const km_image *img, int q, size_t *len, double *err)
{
    uint8_t *buf;
    assert_int_equal(km_jpeg_encode(img, q, &buf, len), KM_OK);
    km_image *back;
    assert_int_equal(km_jpeg_decode(buf, *len, img->fmt, &back), KM_OK);
    *err = tc_image_mae(img, back);
    km_image_free(back);
    free(buf);
}

static void test_jpeg_quality_effect(void **state)
{
    (void)state;
    const km_pixfmt fmts[2] = { KM_PIX_RGB24, KM_PIX_GRAY8 };
    for (int k = 0; k < 2; k++) {
        km_image *img = smooth(161, 99, fmts[k]);
        size_t l30, l80, l98;
        double e30, e80, e98;
        jpeg_at(img, 30, &l30, &e30);
        jpeg_at(img, 80, &l80, &e80);
        jpeg_at(img, 98, &l98, &e98);
        assert_true(l30 < l80 && l80 < l98);
        assert_true(e30 > e80 && e80 > e98);
        assert_true(e98 < 2.0);
        km_image_free(img);
    }
}

static void test_jpeg_bad_arguments(void **state)
{
    (void)state;
    km_image *img = smooth(8, 8, KM_PIX_RGB24);
    uint8_t *buf;
    size_t len;
    assert_int_equal(km_jpeg_encode(img, 0, &buf, &len), KM_ERANGE);
    assert_int_equal(km_jpeg_encode(img, 101, &buf, &len), KM_ERANGE);
    km_image *f = km_image_new(8, 8, KM_PIX_FLOAT, 3);
    assert_int_equal(km_jpeg_encode(f, 80, &buf, &len), KM_EINVAL);
    km_image *out;
    assert_int_equal(km_jpeg_decode((const uint8_t *)"\xff\xd8\xff", 3, KM_PIX_RGB24, &out),
                     KM_EFORMAT);
    assert_int_equal(km_jpeg_decode((const uint8_t *)"hello world", 11, KM_PIX_RGB24, &out),
                     KM_EFORMAT);
    assert_null(out);
    km_image_free(img);
    km_image_free(f);
}

static void test_png_exact_round_trip(void **state)
{
    (void)state;
    const km_pixfmt fmts[2] = { KM_PIX_RGB24, KM_PIX_GRAY8 };
    for (int k = 0; k < 2; k++) {
        km_image *img = smooth(77, 41, fmts[k]);
        km_image_row(img, 0)[0] = 0;
        km_image_row(img, 40)[76] = 255;
        uint8_t *buf;
        size_t len;
        assert_int_equal(km_png_encode(img, &buf, &len), KM_OK);
        km_image *back;
        assert_int_equal(km_png_decode(buf, len, fmts[k], &back), KM_OK);
        assert_true(tc_image_mae(img, back) == 0.0);
        km_image_free(back);
        free(buf);
        km_image_free(img);
    }
}

/* ---- PNG flavours written with libpng directly ---- */

typedef struct {
    uint8_t *buf;
    size_t len, cap;
} membuf;

static void mem_write(png_structp png, png_bytep d, size_t n)
{
    membuf *m = png_get_io_ptr(png);
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2;
        m->buf = realloc(m->buf, m->cap);
    }
    memcpy(m->buf + m->len, d, n);
    m->len += n;
}

static void mem_flush(png_structp png)
{
    (void)png;
}

/* A 20x10 PNG whose pixel (x, y) has 8-bit value v = x*12 + y in every
 * colour channel (gray: the same), alpha 128 where present. */
static membuf make_png(int color_type, int depth, int interlace)
{
    const int w = 20, h = 10;
    membuf m = { 0 };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_set_write_fn(png, &m, mem_write, mem_flush);
    png_set_IHDR(png, info, w, h, depth, color_type, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[256];
        for (int i = 0; i < 256; i++)
            pal[i].red = pal[i].green = pal[i].blue = (png_byte)i;
        png_set_PLTE(png, info, pal, 256);
    }
    png_write_info(png, info);
    int ch = png_get_channels(png, info);
    int bytes = depth == 16 ? 2 : 1;
    png_bytep *rows = malloc(h * sizeof *rows);
    for (int y = 0; y < h; y++) {
        rows[y] = malloc((size_t)w * ch * bytes);
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++) {
                int alpha = (ch == 2 && c == 1) || (ch == 4 && c == 3);
                int v = alpha ? 128 : x * 12 + y;
                uint8_t *p = rows[y] + ((size_t)x * ch + c) * bytes;
                if (bytes == 2)
                    p[0] = p[1] = (uint8_t)v; /* v * 257: exact 16-bit of v */
                else
                    p[0] = (uint8_t)v;
            }
    }
    png_write_image(png, rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    for (int y = 0; y < h; y++)
        free(rows[y]);
    free(rows);
    return m;
}

static void test_png_flavours_normalise(void **state)
{
    (void)state;
    const struct { int type, depth; } kinds[] = {
        { PNG_COLOR_TYPE_GRAY, 8 },       { PNG_COLOR_TYPE_GRAY, 16 },
        { PNG_COLOR_TYPE_GRAY_ALPHA, 8 }, { PNG_COLOR_TYPE_GRAY_ALPHA, 16 },
        { PNG_COLOR_TYPE_RGB, 8 },        { PNG_COLOR_TYPE_RGB, 16 },
        { PNG_COLOR_TYPE_RGB_ALPHA, 8 },  { PNG_COLOR_TYPE_RGB_ALPHA, 16 },
        { PNG_COLOR_TYPE_PALETTE, 8 },
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (int il = 0; il < 2; il++) {
            membuf m = make_png(kinds[k].type, kinds[k].depth,
                                il ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE);
            for (int f = 0; f < 2; f++) {
                km_pixfmt fmt = f ? KM_PIX_GRAY8 : KM_PIX_RGB24;
                km_image *img;
                if (km_png_decode(m.buf, m.len, fmt, &img) != KM_OK)
                    fail_msg("type %d depth %d: %s", kinds[k].type, kinds[k].depth, km_errmsg());
                assert_int_equal(img->fmt, fmt);
                assert_int_equal(img->width, 20);
                assert_int_equal(img->height, 10);
                int bpp = f ? 1 : 3;
                for (int y = 0; y < 10; y++)
                    for (int x = 0; x < 20; x++)
                        for (int c = 0; c < bpp; c++)
                            assert_int_equal(km_image_row(img, y)[x * bpp + c], x * 12 + y);
                km_image_free(img);
            }
            free(m.buf);
        }
}

static void test_png_low_bit_depth(void **state)
{
    (void)state;
    /* 1-bit gray: libpng expands 0/1 to 0/255. */
    membuf m = { 0 };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_set_write_fn(png, &m, mem_write, mem_flush);
    png_set_IHDR(png, info, 8, 2, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_byte r0[1] = { 0xA5 }, r1[1] = { 0x0F };
    png_write_row(png, r0);
    png_write_row(png, r1);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    km_image *img;
    assert_int_equal(km_png_decode(m.buf, m.len, KM_PIX_GRAY8, &img), KM_OK);
    const uint8_t want0[8] = { 255, 0, 255, 0, 0, 255, 0, 255 };
    assert_memory_equal(km_image_row(img, 0), want0, 8);
    assert_int_equal(km_image_row(img, 1)[7], 255);
    assert_int_equal(km_image_row(img, 1)[0], 0);
    km_image_free(img);
    free(m.buf);
}

static void test_load_test_images(void **state)
{
    (void)state;
    km_image *img;
    assert_int_equal(km_image_load("tests/media/basketball1.png", KM_PIX_GRAY8, &img), KM_OK);
    assert_int_equal(img->width, 640);
    assert_int_equal(img->height, 480);
    km_image_free(img);
    assert_int_equal(km_image_load("tests/media/basketball1.png", KM_PIX_RGB24, &img), KM_OK);
    const uint8_t *p = km_image_row(img, 100) + 3 * 200;
    assert_true(p[0] == p[1] && p[1] == p[2]); /* gray source */
    km_image_free(img);
    assert_int_equal(km_image_load("tests/media/messi5.jpg", KM_PIX_RGB24, &img), KM_OK);
    assert_int_equal(img->width, 548);
    assert_int_equal(img->height, 342);
    km_image *g;
    assert_int_equal(km_image_load("tests/media/messi5.jpg", KM_PIX_GRAY8, &g), KM_OK);
    km_image *luma = km_image_convert(img, KM_PIX_GRAY8, 1, 0);
    assert_true(tc_image_mae(g, luma) < 1.5);
    km_image_free(luma);
    km_image_free(g);
    km_image_free(img);
    assert_int_equal(km_image_load("tests/media/messi5.jpg", KM_PIX_FLOAT, &img), KM_EINVAL);
}

static void test_save_and_load(void **state)
{
    (void)state;
    char path[256];
    km_image *img = smooth(64, 48, KM_PIX_RGB24);
    tc_tmp_path(path, sizeof path, "a.png");
    assert_int_equal(km_image_save(path, img, 0), KM_OK);
    km_image *back;
    assert_int_equal(km_image_load(path, KM_PIX_RGB24, &back), KM_OK);
    assert_true(tc_image_mae(img, back) == 0.0);
    km_image_free(back);
    tc_tmp_path(path, sizeof path, "b.JPEG");
    assert_int_equal(km_image_save(path, img, 90), KM_OK);
    assert_int_equal(km_image_load(path, KM_PIX_RGB24, &back), KM_OK);
    assert_true(tc_image_mae(img, back) < 3.0);
    km_image_free(back);
    tc_tmp_path(path, sizeof path, "c.bmp");
    assert_int_equal(km_image_save(path, img, 90), KM_EUNSUPPORTED);
    assert_non_null(strstr(km_errmsg(), "c.bmp"));
    assert_true(access(path, F_OK) != 0);
    tc_tmp_path(path, sizeof path, "d.jpg");
    assert_int_equal(km_image_save(path, img, 101), KM_ERANGE);
    assert_non_null(strstr(km_errmsg(), "d.jpg"));
    assert_true(access(path, F_OK) != 0);
    km_image_free(img);
}

static void test_is_image_path(void **state)
{
    (void)state;
    assert_true(km_is_image_path("a.jpg"));
    assert_true(km_is_image_path("dir.v2/A.JPEG"));
    assert_true(km_is_image_path("x.Png"));
    assert_false(km_is_image_path("x.mp4"));
    assert_false(km_is_image_path("png"));
    assert_false(km_is_image_path("dir.png/file"));
    assert_false(km_is_image_path("x."));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jpeg_quality_effect),
        cmocka_unit_test(test_jpeg_bad_arguments),
        cmocka_unit_test(test_png_exact_round_trip),
        cmocka_unit_test(test_png_flavours_normalise),
        cmocka_unit_test(test_png_low_bit_depth),
        cmocka_unit_test(test_load_test_images),
        cmocka_unit_test(test_save_and_load),
        cmocka_unit_test(test_is_image_path),
    };
    return cmocka_run_group_tests(tests, setup_dir, tc_tmpdir_teardown);
}
