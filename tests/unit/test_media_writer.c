/* test_media_writer.c - video writer: round trips through H.264/MP4,
 * H.264/MKV, VP9/WebM and GIF, frame-accurate seeking in our own output,
 * atomic output (abort leaves nothing) and clear errors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
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
    return tc_tmpdir_make("km_writer");
}

/* A smooth pattern that moves with the frame number. */
static km_image *synthetic(int w, int h, int i)
{
    km_image *img = km_image_new(w, h, KM_PIX_RGB24, 0);
    assert_non_null(img);
    for (int y = 0; y < h; y++) {
        uint8_t *p = km_image_row(img, y);
        for (int x = 0; x < w; x++, p += 3) {
            p[0] = (uint8_t)((x * 200) / w + 2 * i);
            p[1] = (uint8_t)(30 + (y * 180) / h);
            p[2] = (uint8_t)(128 + 60 * sin((x + y + 4 * i) / 25.0));
        }
    }
    return img;
}

/* Mean abs difference of the means of bs x bs blocks: what a viewer sees
 * of a dithered image. */
static double block_mean_diff(const km_image *a, const km_image *b, int bs)
{
    int bpp = a->fmt == KM_PIX_RGB24 ? 3 : 1;
    double sum = 0;
    int blocks = 0;
    for (int by = 0; by + bs <= a->height; by += bs)
        for (int bx = 0; bx + bs <= a->width; bx += bs)
            for (int c = 0; c < bpp; c++) {
                int sa = 0, sb = 0;
                for (int y = by; y < by + bs; y++)
                    for (int x = bx; x < bx + bs; x++) {
                        sa += km_image_row(a, y)[x * bpp + c];
                        sb += km_image_row(b, y)[x * bpp + c];
                    }
                sum += fabs((double)(sa - sb)) / (bs * bs);
                blocks++;
            }
    return sum / blocks;
}

static void write_video(const char *path, const char *codec, int w, int h, int n, double fps)
{
    km_writer_opts o = KM_WRITER_OPTS_DEFAULT;
    o.codec = codec;
    o.fps = fps;
    o.threads = 2; /* frame-threaded encoders delay packets: exercise the flush */
    km_writer *wr;
    int rc = km_writer_open(&wr, path, w, h, &o);
    if (rc != KM_OK)
        fail_msg("open %s: %s", path, km_errmsg());
    for (int i = 0; i < n; i++) {
        km_image *img = synthetic(w, h, i);
        assert_int_equal(km_writer_write(wr, img), KM_OK);
        km_image_free(img);
    }
    rc = km_writer_close(wr);
    if (rc != KM_OK)
        fail_msg("close %s: %s", path, km_errmsg());
}

/* Write n frames, read them back, check count, size, fps and pixels. */
static void round_trip(const char *name, const char *codec, const char *want_codec, double max_mae,
                       int block)
{
    char path[256];
    tc_tmp_path(path, sizeof path, name);
    const int w = 160, h = 120, n = 24;
    write_video(path, codec, w, h, n, 12.0);

    km_video_info info;
    assert_int_equal(km_probe(path, &info), KM_OK);
    assert_int_equal(info.width, w);
    assert_int_equal(info.height, h);
    assert_int_equal(info.frames, n);
    assert_true(fabs(info.fps - 12.0) < 0.2);
    assert_string_equal(info.codec, want_codec);

    km_reader *r;
    assert_int_equal(km_reader_open(&r, path, NULL), KM_OK);
    int got = 0;
    double worst = 0;
    km_frame *f;
    while (km_reader_read(r, &f) == KM_OK) {
        assert_int_equal(f->index, got);
        assert_true(fabs(f->time_s - got / 12.0) < 0.011);
        km_image *want = synthetic(w, h, got);
        double mae = block > 1 ? block_mean_diff(f->img, want, block) : tc_image_mae(f->img, want);
        worst = mae > worst ? mae : worst;
        km_image_free(want);
        km_frame_unref(f);
        got++;
    }
    km_reader_close(r);
    assert_int_equal(got, n);
    if (worst > max_mae)
        fail_msg("%s: worst mean abs error %.2f > %.2f", name, worst, max_mae);
    print_message("%s: worst mean abs error %.2f\n", name, worst);
}

static void test_h264_mp4_round_trip(void **state)
{
    (void)state;
    round_trip("a.mp4", NULL, "h264", 4.0, 1);
}

static void test_h264_mkv_round_trip(void **state)
{
    (void)state;
    round_trip("a.mkv", "h264", "h264", 4.0, 1);
}

static void test_vp9_webm_round_trip(void **state)
{
    (void)state;
    round_trip("a.webm", NULL, "vp9", 6.0, 1);
}

static void test_gif_round_trip(void **state)
{
    (void)state;
    round_trip("a.gif", NULL, "gif", 3.0, 8); /* dithered: compare 8x8 means */
}

/* Seek in our own output (H.264 with B-frames, VP9, GIF): the frame after
 * a seek equals the one reached by decoding sequentially. */
static void seek_matches_sequential(const char *name)
{
    char path[256];
    tc_tmp_path(path, sizeof path, name);
    const int n = 75;
    write_video(path, NULL, 96, 64, n, 25.0);
    km_reader *seq;
    assert_int_equal(km_reader_open(&seq, path, NULL), KM_OK);
    km_frame *frames[75];
    for (int i = 0; i < n; i++)
        assert_int_equal(km_reader_read(seq, &frames[i]), KM_OK);
    km_reader_close(seq);

    km_reader *r;
    assert_int_equal(km_reader_open(&r, path, NULL), KM_OK);
    const double targets[] = { 2.5, 0.0, 1.0, 1.01, 2.96, 0.33, 2.0 };
    for (size_t k = 0; k < sizeof targets / sizeof targets[0]; k++) {
        double t = targets[k];
        assert_int_equal(km_reader_seek(r, t), KM_OK);
        km_frame *f;
        assert_int_equal(km_reader_read(r, &f), KM_OK);
        int want = (int)ceil(t * 25.0 - 1e-9);
        assert_true(f->time_s >= t);
        assert_true(want == 0 || frames[want - 1]->time_s < t);
        assert_int_equal(f->index, want);
        assert_true(f->time_s == frames[want]->time_s);
        assert_true(tc_image_mae(f->img, frames[want]->img) == 0.0);
        km_frame_unref(f);
    }
    assert_int_equal(km_reader_seek(r, 100.0), KM_OK);
    km_frame *f;
    assert_int_equal(km_reader_read(r, &f), KM_EEOF);
    km_reader_close(r);
    for (int i = 0; i < n; i++)
        km_frame_unref(frames[i]);
}

static void test_seek_in_h264_matches_sequential(void **state)
{
    (void)state;
    seek_matches_sequential("seek.mp4");
}

static void test_seek_in_vp9_and_gif_matches_sequential(void **state)
{
    (void)state;
    seek_matches_sequential("seek.webm");
    seek_matches_sequential("seek.gif");
}

static void test_gray_frames_are_accepted(void **state)
{
    (void)state;
    char path[256];
    tc_tmp_path(path, sizeof path, "gray.mp4");
    km_writer *w;
    assert_int_equal(km_writer_open(&w, path, 64, 48, NULL), KM_OK);
    km_image *g = km_image_new(64, 48, KM_PIX_GRAY8, 0);
    memset(g->data, 100, g->stride * 48);
    for (int i = 0; i < 5; i++)
        assert_int_equal(km_writer_write(w, g), KM_OK);
    assert_int_equal(km_writer_close(w), KM_OK);
    km_reader_opts o = KM_READER_OPTS_DEFAULT;
    o.fmt = KM_PIX_GRAY8;
    km_reader *r;
    assert_int_equal(km_reader_open(&r, path, &o), KM_OK);
    km_frame *f;
    assert_int_equal(km_reader_read(r, &f), KM_OK);
    assert_true(tc_image_mae(f->img, g) < 2.0);
    km_frame_unref(f);
    km_reader_close(r);
    km_image_free(g);
}

static void test_abort_leaves_no_file(void **state)
{
    (void)state;
    char path[256];
    tc_tmp_path(path, sizeof path, "aborted.mp4");
    int before = tc_count_entries(tc_tmpdir(), NULL, NULL);
    km_writer *w;
    assert_int_equal(km_writer_open(&w, path, 64, 48, NULL), KM_OK);
    km_image *img = synthetic(64, 48, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(km_writer_write(w, img), KM_OK);
    km_image_free(img);
    assert_true(access(path, F_OK) != 0); /* not visible before close */
    km_writer_abort(w);
    assert_true(access(path, F_OK) != 0);
    assert_int_equal(tc_count_entries(tc_tmpdir(), NULL, NULL), before);
}

static void test_close_replaces_existing_file(void **state)
{
    (void)state;
    char path[256];
    tc_tmp_path(path, sizeof path, "replace.gif");
    FILE *fp = fopen(path, "w");
    fputs("old", fp);
    fclose(fp);
    write_video(path, NULL, 32, 32, 2, 10.0);
    km_video_info info;
    assert_int_equal(km_probe(path, &info), KM_OK);
    assert_int_equal(info.frames, 2);
    struct stat sb; /* readable by others, as the file it replaced was (not mkstemp's 0600) */
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
}

static void test_odd_size_h264_is_a_clear_error(void **state)
{
    (void)state;
    char path[256];
    tc_tmp_path(path, sizeof path, "odd.mp4");
    km_writer *w;
    assert_int_equal(km_writer_open(&w, path, 65, 48, NULL), KM_EINVAL);
    assert_null(w);
    assert_non_null(strstr(km_errmsg(), "even"));
    assert_non_null(strstr(km_errmsg(), "odd.mp4"));
    assert_true(access(path, F_OK) != 0);
}

static void test_odd_size_vp9_and_gif_work(void **state)
{
    (void)state;
    const char *names[] = { "odd.webm", "odd.gif" };
    for (int k = 0; k < 2; k++) {
        char path[256];
        tc_tmp_path(path, sizeof path, names[k]);
        write_video(path, NULL, 33, 25, 3, 10.0);
        km_video_info info;
        assert_int_equal(km_probe(path, &info), KM_OK);
        assert_int_equal(info.width, 33);
        assert_int_equal(info.height, 25);
        assert_int_equal(info.frames, 3);
    }
}

static void test_writer_argument_errors(void **state)
{
    (void)state;
    char path[256];
    km_writer *w;
    tc_tmp_path(path, sizeof path, "x.avi");
    assert_int_equal(km_writer_open(&w, path, 64, 48, NULL), KM_EUNSUPPORTED);
    assert_non_null(strstr(km_errmsg(), "x.avi"));
    km_writer_opts o = KM_WRITER_OPTS_DEFAULT;
    o.codec = "h264";
    tc_tmp_path(path, sizeof path, "x.webm");
    assert_int_equal(km_writer_open(&w, path, 64, 48, &o), KM_EUNSUPPORTED);
    o.codec = "theora";
    tc_tmp_path(path, sizeof path, "x.mkv");
    assert_int_equal(km_writer_open(&w, path, 64, 48, &o), KM_EUNSUPPORTED);
    assert_int_equal(km_writer_open(&w, "/nonexistent-dir/x.mp4", 64, 48, NULL), KM_ENOTFOUND);
    assert_non_null(strstr(km_errmsg(), "/nonexistent-dir/x.mp4"));
    tc_tmp_path(path, sizeof path, "x.mp4");
    assert_int_equal(km_writer_open(&w, path, 0, 48, NULL), KM_ERANGE);

    assert_int_equal(km_writer_open(&w, path, 64, 48, NULL), KM_OK);
    km_image *wrong = km_image_new(32, 48, KM_PIX_RGB24, 0);
    assert_int_equal(km_writer_write(w, wrong), KM_EINVAL);
    km_image_free(wrong);
    km_image *fl = km_image_new(64, 48, KM_PIX_FLOAT, 3);
    assert_int_equal(km_writer_write(w, fl), KM_EINVAL);
    km_image_free(fl);
    km_writer_abort(w);
    assert_true(access(path, F_OK) != 0);
}

static void test_close_without_frames(void **state)
{
    (void)state;
    const char *names[] = { "none.mp4", "none.webm", "none.gif" };
    for (int k = 0; k < 3; k++) {
        char path[256];
        tc_tmp_path(path, sizeof path, names[k]);
        km_writer *w;
        assert_int_equal(km_writer_open(&w, path, 32, 32, NULL), KM_OK);
        int rc = km_writer_close(w);
        /* Either a valid empty video or a clean error that leaves nothing. */
        if (rc != KM_OK) {
            assert_non_null(strstr(km_errmsg(), names[k]));
            assert_true(access(path, F_OK) != 0);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h264_mp4_round_trip),
        cmocka_unit_test(test_h264_mkv_round_trip),
        cmocka_unit_test(test_vp9_webm_round_trip),
        cmocka_unit_test(test_gif_round_trip),
        cmocka_unit_test(test_seek_in_h264_matches_sequential),
        cmocka_unit_test(test_seek_in_vp9_and_gif_matches_sequential),
        cmocka_unit_test(test_gray_frames_are_accepted),
        cmocka_unit_test(test_abort_leaves_no_file),
        cmocka_unit_test(test_close_replaces_existing_file),
        cmocka_unit_test(test_odd_size_h264_is_a_clear_error),
        cmocka_unit_test(test_odd_size_vp9_and_gif_work),
        cmocka_unit_test(test_writer_argument_errors),
        cmocka_unit_test(test_close_without_frames),
    };
    return cmocka_run_group_tests(tests, setup_dir, tc_tmpdir_teardown);
}
