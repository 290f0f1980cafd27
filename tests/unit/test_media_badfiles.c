/* test_media_badfiles.c - empty, truncated, random, misnamed, missing and
 * directory inputs to km_probe, km_reader_* and km_image_load: each fails
 * cleanly (or, for a truncated but readable video, ends cleanly), never
 * crashes or hangs, and the message names the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kinema/media.h"
#include "test_common.h"

static int setup_dir(void **state)
{
    (void)state;
    return tc_tmpdir_make("km_bad");
}

/* First n bytes of src copied to tc_tmpdir()/name; returns the path (static). */
static const char *truncated_copy(const char *src, size_t n, const char *name)
{
    static char path[256];
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    uint8_t *buf = malloc(n);
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    assert_int_equal(got, n);
    tc_tmp_path(path, sizeof path, name);
    tc_write_file(path, buf, n);
    free(buf);
    return path;
}

static const char *random_file(const char *name, size_t n, unsigned seed, const uint8_t *magic,
                               size_t magic_len)
{
    static char path[256];
    uint8_t *buf = malloc(n);
    srand(seed);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(rand() >> 7);
    if (magic)
        memcpy(buf, magic, magic_len < n ? magic_len : n);
    tc_tmp_path(path, sizeof path, name);
    tc_write_file(path, buf, n);
    free(buf);
    return path;
}

static int is_clean_error(int rc)
{
    return rc == KM_EFORMAT || rc == KM_ENOTFOUND || rc == KM_EIO || rc == KM_EUNSUPPORTED;
}

static void expect_error_naming(int rc, const char *path)
{
    if (!is_clean_error(rc))
        fail_msg("%s: unexpected code %d (%s)", path, rc, km_errmsg());
    if (!strstr(km_errmsg(), path))
        fail_msg("message \"%s\" does not name %s", km_errmsg(), path);
}

/* Video inputs that must not open. */
static void expect_video_rejected(const char *path)
{
    km_video_info info;
    expect_error_naming(km_probe(path, &info), path);
    km_reader *r = (km_reader *)1;
    expect_error_naming(km_reader_open(&r, path, NULL), path);
    assert_null(r);
}

/* Video inputs that may open (a damaged file can still hold frames): then
 * reading must end with EEOF or a clean error within a bounded count. */
static void expect_video_handled(const char *path)
{
    km_video_info info;
    int rc = km_probe(path, &info);
    if (rc < 0)
        expect_error_naming(rc, path);
    km_reader *r;
    rc = km_reader_open(&r, path, NULL);
    if (rc < 0) {
        expect_error_naming(rc, path);
        return;
    }
    km_frame *f;
    int n = 0;
    while ((rc = km_reader_read(r, &f)) == KM_OK && n < 2000) {
        km_frame_unref(f);
        n++;
    }
    assert_true(n < 2000);
    if (rc != KM_EEOF)
        expect_error_naming(rc, path);
    km_reader_seek(r, 1.0); /* must not crash either */
    km_reader_close(r);
}

static void expect_image_rejected(const char *path)
{
    km_image *img = (km_image *)1;
    int rc = km_image_load(path, KM_PIX_RGB24, &img);
    expect_error_naming(rc, path);
    assert_null(img);
    rc = km_image_load(path, KM_PIX_GRAY8, &img);
    expect_error_naming(rc, path);
}

static void test_empty_file(void **state)
{
    (void)state;
    char path[256];
    tc_tmp_path(path, sizeof path, "empty.mp4");
    tc_write_file(path, "", 0);
    expect_video_rejected(path);
    assert_non_null(strstr(km_errmsg(), "empty"));
    tc_tmp_path(path, sizeof path, "empty.png");
    tc_write_file(path, "", 0);
    expect_image_rejected(path);
}

static void test_missing_file(void **state)
{
    (void)state;
    const char *path = "/tmp/km-no-such-file-4242.mp4";
    km_video_info info;
    assert_int_equal(km_probe(path, &info), KM_ENOTFOUND);
    assert_non_null(strstr(km_errmsg(), path));
    km_reader *r;
    assert_int_equal(km_reader_open(&r, path, NULL), KM_ENOTFOUND);
    km_image *img;
    assert_int_equal(km_image_load("/tmp/km-no-such-file-4242.png", KM_PIX_RGB24, &img),
                     KM_ENOTFOUND);
    assert_non_null(strstr(km_errmsg(), "km-no-such-file-4242.png"));
}

static void test_directory(void **state)
{
    (void)state;
    char path[256];
    tc_tmp_path(path, sizeof path, "dir.mp4");
    assert_int_equal(mkdir(path, 0755), 0);
    expect_video_rejected(path);
    expect_image_rejected(path);
}

static void test_truncated_video(void **state)
{
    (void)state;
    const size_t sizes[] = { 1, 11, 100, 2000, 65536, 1000000 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "trunc%zu.avi", sizes[i]);
        expect_video_handled(truncated_copy("tests/media/vtest.avi", sizes[i], name));
    }
}

static void test_truncated_images(void **state)
{
    (void)state;
    const size_t sizes[] = { 1, 7, 8, 50, 300, 5000, 40000 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "trunc%zu.jpg", sizes[i]);
        expect_image_rejected(truncated_copy("tests/media/messi5.jpg", sizes[i], name));
        snprintf(name, sizeof name, "trunc%zu.png", sizes[i]);
        expect_image_rejected(truncated_copy("tests/media/basketball1.png", sizes[i], name));
    }
    const char *p = truncated_copy("tests/media/basketball1.png", 66000, "half.png");
    km_image *img;
    assert_int_equal(km_image_load(p, KM_PIX_GRAY8, &img), KM_EFORMAT);
    assert_non_null(strstr(km_errmsg(), "truncated PNG data"));
    p = truncated_copy("tests/media/messi5.jpg", 36000, "half.jpg");
    assert_int_equal(km_image_load(p, KM_PIX_RGB24, &img), KM_EFORMAT);
    assert_non_null(strstr(km_errmsg(), "truncated JPEG data"));
}

static void test_random_bytes(void **state)
{
    (void)state;
    static const uint8_t png_sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n' };
    static const uint8_t jpg_sig[3] = { 0xFF, 0xD8, 0xFF };
    const size_t sizes[] = { 16, 1000, 70000 };
    for (unsigned seed = 1; seed <= 4; seed++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            expect_video_handled(random_file("rand.mp4", sizes[i], seed, NULL, 0));
            expect_video_handled(random_file("rand.bin", sizes[i], seed, NULL, 0));
            expect_image_rejected(random_file("rand.png", sizes[i], seed, NULL, 0));
            expect_image_rejected(random_file("sig.png", sizes[i], seed, png_sig, 8));
            expect_image_rejected(random_file("sig.jpg", sizes[i], seed, jpg_sig, 3));
        }
}

static void test_wrong_extension(void **state)
{
    (void)state;
    char path[256];
    tc_tmp_path(path, sizeof path, "text.mp4");
    const char *text = "this is not a video, just some text\n";
    tc_write_file(path, text, strlen(text));
    expect_video_rejected(path);

    /* Images load by content, whatever the name says. */
    const char *png_as_jpg = truncated_copy("tests/media/basketball1.png", 132826, "really_png.jpg");
    km_image *img;
    assert_int_equal(km_image_load(png_as_jpg, KM_PIX_GRAY8, &img), KM_OK);
    assert_int_equal(img->width, 640);
    km_image_free(img);
    /* A video named .png is not an image. */
    expect_image_rejected(truncated_copy("tests/media/vtest.avi", 100000, "video.png"));
    /* An image named .avi: probing may take it as a one-frame video or
     * refuse it, but never crashes. */
    expect_video_handled(truncated_copy("tests/media/messi5.jpg", 72937, "image.avi"));
}

static void put_le(uint8_t *p, uint32_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void test_audio_only_file(void **state)
{
    (void)state;
    /* A valid 0.1 s mono 16-bit WAV: a real media file without video. */
    enum { SAMPLES = 800, DATA = SAMPLES * 2 };
    uint8_t wav[44 + DATA];
    memset(wav, 0, sizeof wav);
    memcpy(wav, "RIFF", 4);
    put_le(wav + 4, 36 + DATA, 4);
    memcpy(wav + 8, "WAVEfmt ", 8);
    put_le(wav + 16, 16, 4);
    put_le(wav + 20, 1, 2);        /* PCM */
    put_le(wav + 22, 1, 2);        /* mono */
    put_le(wav + 24, 8000, 4);     /* rate */
    put_le(wav + 28, 16000, 4);    /* bytes/s */
    put_le(wav + 32, 2, 2);        /* block align */
    put_le(wav + 34, 16, 2);       /* bits */
    memcpy(wav + 36, "data", 4);
    put_le(wav + 40, DATA, 4);
    char path[256];
    tc_tmp_path(path, sizeof path, "sound.wav");
    tc_write_file(path, wav, sizeof wav);
    km_video_info info;
    assert_int_equal(km_probe(path, &info), KM_EFORMAT);
    char want[300];
    snprintf(want, sizeof want, "%s: no video stream", path);
    assert_string_equal(km_errmsg(), want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_truncated_video),
        cmocka_unit_test(test_truncated_images),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_wrong_extension),
        cmocka_unit_test(test_audio_only_file),
    };
    return cmocka_run_group_tests(tests, setup_dir, tc_tmpdir_teardown);
}
