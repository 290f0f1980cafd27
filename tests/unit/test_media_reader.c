/* test_media_reader.c - probing and decoding tests/media/vtest.avi
 * (768x576, 10 fps, 795 frames, MS-MPEG4 v3): info, timestamps, pixel
 * formats and scaling, threads, frame-accurate seeking, skip. */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <libavformat/avformat.h>

#include "kinema/media.h"
#include "media/media_priv.h"
#include "test_common.h"

#define VTEST "tests/media/vtest.avi"

static km_reader *open_or_fail(const char *url, const km_reader_opts *o)
{
    km_reader *r;
    int rc = km_reader_open(&r, url, o);
    if (rc != KM_OK)
        fail_msg("%s: %s", url, km_errmsg());
    return r;
}

static void test_probe_vtest(void **state)
{
    (void)state;
    km_video_info info;
    assert_int_equal(km_probe(VTEST, &info), KM_OK);
    assert_int_equal(info.width, 768);
    assert_int_equal(info.height, 576);
    assert_true(fabs(info.fps - 10.0) < 1e-9);
    assert_int_equal(info.frames, 795);
    assert_true(fabs(info.duration - 79.5) < 0.2);
    assert_string_equal(info.codec, "msmpeg4v3");
}

static void test_first_frames_have_index_and_time(void **state)
{
    (void)state;
    km_reader *r = open_or_fail(VTEST, NULL);
    const km_video_info *info = km_reader_info(r);
    assert_int_equal(info->width, 768);
    assert_int_equal(info->frames, 795);
    for (int i = 0; i < 5; i++) {
        km_frame *f;
        assert_int_equal(km_reader_read(r, &f), KM_OK);
        assert_int_equal(f->index, i);
        assert_true(fabs(f->time_s - i * 0.1) < 1e-9);
        assert_int_equal(f->img->width, 768);
        assert_int_equal(f->img->height, 576);
        assert_int_equal(f->img->fmt, KM_PIX_RGB24);
        km_frame_unref(f);
    }
    km_reader_close(r);
}

static void test_gray_and_scaled_output(void **state)
{
    (void)state;
    km_reader_opts o = KM_READER_OPTS_DEFAULT;
    o.fmt = KM_PIX_GRAY8;
    o.width = 384; /* height follows the aspect ratio */
    km_reader *r = open_or_fail(VTEST, &o);
    assert_int_equal(km_reader_info(r)->width, 384);
    assert_int_equal(km_reader_info(r)->height, 288);
    km_frame *g;
    assert_int_equal(km_reader_read(r, &g), KM_OK);
    assert_int_equal(g->img->fmt, KM_PIX_GRAY8);
    assert_int_equal(g->img->width, 384);
    assert_int_equal(g->img->height, 288);
    km_reader_close(r);

    /* The gray frame is close to the luma of the RGB frame, resized. */
    km_reader *rgb = open_or_fail(VTEST, NULL);
    km_frame *c;
    assert_int_equal(km_reader_read(rgb, &c), KM_OK);
    km_image *luma = km_image_convert(c->img, KM_PIX_GRAY8, 1, 0);
    km_image *small = km_image_resize(luma, 384, 288, KM_INTERP_AREA);
    double sum = 0;
    for (int y = 0; y < 288; y++)
        for (int x = 0; x < 384; x++)
            sum += abs(km_image_row(small, y)[x] - km_image_row(g->img, y)[x]);
    assert_true(sum / (384.0 * 288) < 4.0);
    km_image_free(luma);
    km_image_free(small);
    km_frame_unref(c);
    km_frame_unref(g);
    km_reader_close(rgb);
}

static void test_two_threads_decode_the_same_pixels(void **state)
{
    (void)state;
    km_reader_opts o = KM_READER_OPTS_DEFAULT;
    o.threads = 2;
    km_reader *a = open_or_fail(VTEST, NULL);
    km_reader *b = open_or_fail(VTEST, &o);
    for (int i = 0; i < 30; i++) {
        km_frame *fa, *fb;
        assert_int_equal(km_reader_read(a, &fa), KM_OK);
        assert_int_equal(km_reader_read(b, &fb), KM_OK);
        assert_int_equal(fa->index, fb->index);
        assert_true(tc_images_equal(fa->img, fb->img));
        km_frame_unref(fa);
        km_frame_unref(fb);
    }
    km_reader_close(a);
    km_reader_close(b);
}

static void test_seek_is_frame_accurate(void **state)
{
    (void)state;
    enum { N = 145 };
    km_frame **seq = calloc(N, sizeof *seq);
    km_reader *r = open_or_fail(VTEST, NULL);
    for (int i = 0; i < N; i++)
        assert_int_equal(km_reader_read(r, &seq[i]), KM_OK);

    /* Same reader, seeking backwards and forwards, between and on frames. */
    const double targets[] = { 3.05, 0.0, 12.0, 1.0, 13.85, 7.3, 0.05, 9.99 };
    for (size_t k = 0; k < sizeof targets / sizeof targets[0]; k++) {
        double t = targets[k];
        assert_int_equal(km_reader_seek(r, t), KM_OK);
        km_frame *f;
        assert_int_equal(km_reader_read(r, &f), KM_OK);
        int want = (int)ceil(t * 10.0 - 1e-9);
        assert_true(f->time_s >= t);
        assert_true(want == 0 || seq[want - 1]->time_s < t); /* the first such frame */
        assert_int_equal(f->index, want);
        assert_true(tc_images_equal(f->img, seq[want]->img));
        km_frame_unref(f);
        /* and reading continues from there */
        assert_int_equal(km_reader_read(r, &f), KM_OK);
        assert_int_equal(f->index, want + 1);
        assert_true(tc_images_equal(f->img, seq[want + 1]->img));
        km_frame_unref(f);
    }
    km_reader_close(r);
    for (int i = 0; i < N; i++)
        km_frame_unref(seq[i]);
    free(seq);
}

static void test_seek_errors_and_past_end(void **state)
{
    (void)state;
    km_reader *r = open_or_fail(VTEST, NULL);
    assert_int_equal(km_reader_seek(r, -1.0), KM_EINVAL);
    assert_int_equal(km_reader_seek(r, NAN), KM_EINVAL);
    assert_int_equal(km_reader_seek(r, 1000.0), KM_OK);
    km_frame *f;
    assert_int_equal(km_reader_read(r, &f), KM_EEOF);
    assert_null(f);
    assert_int_equal(km_reader_seek(r, 79.4), KM_OK); /* the last frame */
    assert_int_equal(km_reader_read(r, &f), KM_OK);
    assert_int_equal(f->index, 794);
    km_frame_unref(f);
    assert_int_equal(km_reader_read(r, &f), KM_EEOF);
    km_reader_close(r);
}

static void test_skip_counts_every_frame(void **state)
{
    (void)state;
    km_reader_opts o = KM_READER_OPTS_DEFAULT;
    o.threads = 2;
    km_reader *r = open_or_fail(VTEST, &o);
    int n = 0;
    int rc;
    while ((rc = km_reader_skip(r)) == KM_OK)
        n++;
    assert_int_equal(rc, KM_EEOF);
    assert_int_equal(n, 795);
    km_frame *f;
    assert_int_equal(km_reader_read(r, &f), KM_EEOF); /* stays at the end */
    km_reader_close(r);
}

static void test_frame_refcount_survives_reader(void **state)
{
    (void)state;
    km_reader *r = open_or_fail(VTEST, NULL);
    km_frame *f;
    assert_int_equal(km_reader_read(r, &f), KM_OK);
    km_frame *g = km_frame_ref(f);
    km_reader_close(r);
    km_frame_unref(f);
    assert_int_equal(g->img->width, 768); /* still alive */
    km_frame_unref(g);
}

static void test_bad_options(void **state)
{
    (void)state;
    km_reader *r;
    km_reader_opts o = KM_READER_OPTS_DEFAULT;
    o.fmt = KM_PIX_FLOAT;
    assert_int_equal(km_reader_open(&r, VTEST, &o), KM_EINVAL);
    assert_null(r);
    o.fmt = KM_PIX_RGB24;
    o.width = -3;
    assert_int_equal(km_reader_open(&r, VTEST, &o), KM_ERANGE);
    assert_int_equal(km_reader_open(&r, "", NULL), KM_EINVAL);
}

static void test_unreachable_network_source_times_out(void **state)
{
    (void)state;
    /* Port 9 on localhost refuses at once; the call must return promptly
     * with an error naming the URL rather than hang. */
    km_reader_opts o = KM_READER_OPTS_DEFAULT;
    o.timeout_ms = 500;
    km_reader *r;
    int rc = km_reader_open(&r, "rtsp://127.0.0.1:9/none", &o);
    assert_true(rc < 0);
    assert_non_null(strstr(km_errmsg(), "rtsp://127.0.0.1:9/none"));
}

static void test_silent_server_times_out(void **state)
{
    (void)state;
    /* A listening socket that never answers: the connection succeeds
     * (kernel backlog) and the RTSP request gets no reply, so only the
     * read timeout can end the open. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s, 4), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    char url[64];
    snprintf(url, sizeof url, "rtsp://127.0.0.1:%d/cam", ntohs(a.sin_port));
    km_reader_opts o = KM_READER_OPTS_DEFAULT;
    o.timeout_ms = 300;
    km_reader *r;
    assert_int_equal(km_reader_open(&r, url, &o), KM_EAGAIN);
    assert_non_null(strstr(km_errmsg(), url));
    assert_non_null(strstr(km_errmsg(), "timed out"));
    close(s);
}

static void test_protocol_names_are_not_interpreted(void **state)
{
    (void)state;
    /* A local name is a path, never an FFmpeg protocol. */
    km_reader *r;
    assert_int_equal(km_reader_open(&r, "concat:" VTEST "|" VTEST, NULL), KM_ENOTFOUND);
    assert_int_equal(km_reader_open(&r, "pipe:0", NULL), KM_ENOTFOUND);
    assert_int_equal(km_reader_open(&r, "file:" VTEST, NULL), KM_OK);
    assert_int_equal(km_reader_info(r)->frames, 795);
    km_reader_close(r);
}

/* V4L2 comes from libavdevice, opened at run time (not linked): it must
 * load and register v4l2; a missing device is a clean error. */
static void test_v4l2_input_available(void **state)
{
    (void)state;
    assert_int_equal(km__av_devices(), 1);
    assert_non_null(av_find_input_format("v4l2"));
    km_reader *r = NULL;
    int rc = km_reader_open(&r, "/dev/video-kinema-missing", NULL);
    assert_true(rc < 0);
    assert_null(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_vtest),
        cmocka_unit_test(test_first_frames_have_index_and_time),
        cmocka_unit_test(test_gray_and_scaled_output),
        cmocka_unit_test(test_two_threads_decode_the_same_pixels),
        cmocka_unit_test(test_seek_is_frame_accurate),
        cmocka_unit_test(test_seek_errors_and_past_end),
        cmocka_unit_test(test_skip_counts_every_frame),
        cmocka_unit_test(test_frame_refcount_survives_reader),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_unreachable_network_source_times_out),
        cmocka_unit_test(test_silent_server_times_out),
        cmocka_unit_test(test_protocol_names_are_not_interpreted),
        cmocka_unit_test(test_v4l2_input_available),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
