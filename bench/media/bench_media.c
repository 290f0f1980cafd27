/*
 * bench_media.c - kinema's video decode/encode and JPEG encode beside the
 * ffmpeg and cjpeg command-line tools, on the same inputs in the same run.
 *
 * Inputs: 10 s, 30 fps H.264 (x264 veryfast, yuv420p) files of FFmpeg's
 * testsrc2 pattern at 1280x720 and 1920x1080, made with the ffmpeg CLI in a
 * temporary directory under /tmp (removed at the end).
 *
 * Decode: open + decode every frame + close, as frames/s.
 *   ours raw  = km_reader_skip (decode only, no pixel conversion)
 *   ours rgb  = km_reader_read (decode + swscale into a new RGB24 image)
 *   reference = `ffmpeg -threads N -i F -f null -`               (raw)
 *               `ffmpeg -threads N -i F -pix_fmt rgb24 -f null -` (rgb)
 *   The CLI's time includes its process start (a few ms of 1-3 s).
 * Transcode: the 720p file -> RGB24 -> H.264 (x264 veryfast, crf 23), one
 *   thread each: kinema's reader feeding its writer beside `ffmpeg -threads
 *   1 -i F -vf format=rgb24,format=yuv420p -c:v libx264 -preset veryfast
 *   -crf 23 -g 60 -threads 1 -movflags +faststart out.mp4` (the same two
 *   conversions, keyframe every 2 s and index in front, as kinema writes).
 * JPEG: one 1280x720 RGB frame (the video's first) at quality 80, 4:2:0,
 *   integer DCT. ours = km_jpeg_encode in a loop. reference = one
 *   `cjpeg -quality 80` process per frame reading a PPM of that frame,
 *   minus the same loop on a 1x1 PPM (process start and exit), so what is
 *   left is PPM read + encode + write.
 *
 * Each figure is the median of `reps` runs (default 3). Ours and the
 * reference run back to back within each repetition so background load
 * (this machine is shared) hits both alike. "ratio" is ours' speed over the
 * reference's by wall clock (> 1: kinema faster); "cpu" is the same ratio by
 * CPU time (user + sys, all threads), which contention disturbs less.
 * Usage: bench_media [reps]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "kinema/media.h"

#define MAX_REPS 15

typedef struct {
    double wall, cpu; /* seconds; wall < 0: failed */
} cost;

typedef struct {
    cost ours[MAX_REPS], ref[MAX_REPS];
} samples;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_s(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static cost start_clock(int who)
{
    return (cost){ now_s(), cpu_s(who) };
}

static cost stop_clock(cost t0, int who)
{
    return (cost){ now_s() - t0.wall, cpu_s(who) - t0.cpu };
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double median_of(const cost *c, int n, int use_cpu)
{
    double v[MAX_REPS];
    for (int i = 0; i < n; i++)
        v[i] = use_cpu ? c[i].cpu : c[i].wall;
    return median(v, n);
}

static int run_quiet(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "bench_media: command failed (%d): %s\n", rc, cmd);
    return rc;
}

static cost time_cmd(const char *cmd)
{
    cost t0 = start_clock(RUSAGE_CHILDREN);
    if (run_quiet(cmd) != 0)
        return (cost){ -1, -1 };
    return stop_clock(t0, RUSAGE_CHILDREN);
}

/* One table row. per_item_ms: show ms per item instead of items/s. */
static void row(const char *what, const samples *s, int reps, double items, int per_item_ms,
                const char *unit)
{
    double ow = median_of(s->ours, reps, 0), rw = median_of(s->ref, reps, 0);
    double oc = median_of(s->ours, reps, 1), rc = median_of(s->ref, reps, 1);
    double ours = per_item_ms ? ow * 1000.0 / items : items / ow;
    double ref = per_item_ms ? rw * 1000.0 / items : items / rw;
    printf("| %-46s | %8.1f | %9.1f | %5.2f | %5.2f | %s\n", what, ours, ref, rw / ow, rc / oc, unit);
}

/* ----------------------------------------------------------- decoding */

static cost ours_decode(const char *path, int threads, int raw, int64_t *frames)
{
    km_reader_opts o = KM_READER_OPTS_DEFAULT;
    o.threads = threads;
    cost t0 = start_clock(RUSAGE_SELF);
    km_reader *r;
    if (km_reader_open(&r, path, &o) != KM_OK) {
        fprintf(stderr, "bench_media: %s\n", km_errmsg());
        return (cost){ -1, -1 };
    }
    int64_t n = 0;
    km_frame *f;
    if (raw) {
        while (km_reader_skip(r) == KM_OK)
            n++;
    } else {
        while (km_reader_read(r, &f) == KM_OK) {
            km_frame_unref(f);
            n++;
        }
    }
    km_reader_close(r);
    *frames = n;
    return stop_clock(t0, RUSAGE_SELF);
}

static cost ffmpeg_decode(const char *path, int threads, int raw)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -threads %d -i '%s' %s -f null -", threads,
             path, raw ? "" : "-pix_fmt rgb24");
    return time_cmd(cmd);
}

static void bench_decode(const char *path, const char *label, int reps)
{
    samples s[2][2]; /* [threads-1][raw] */
    int64_t frames = 0;
    for (int k = 0; k < reps; k++)
        for (int t = 1; t <= 2; t++)
            for (int raw = 1; raw >= 0; raw--) {
                s[t - 1][raw].ours[k] = ours_decode(path, t, raw, &frames);
                s[t - 1][raw].ref[k] = ffmpeg_decode(path, t, raw);
            }
    for (int t = 1; t <= 2; t++)
        for (int raw = 1; raw >= 0; raw--) {
            char what[96];
            snprintf(what, sizeof what, "%s %s, %d thread%s", label,
                     raw ? "decode only" : "decode + RGB24", t, t > 1 ? "s" : "");
            row(what, &s[t - 1][raw], reps, (double)frames, 0,
                raw ? "frames/s; ffmpeg -f null" : "frames/s; ffmpeg -pix_fmt rgb24");
        }
}

/* ---------------------------------------------------------- transcode */

static cost ours_transcode(const char *in, const char *out, int64_t *frames)
{
    cost t0 = start_clock(RUSAGE_SELF);
    km_reader *r;
    km_writer *w;
    if (km_reader_open(&r, in, NULL) != KM_OK)
        return (cost){ -1, -1 };
    const km_video_info *info = km_reader_info(r);
    km_writer_opts o = KM_WRITER_OPTS_DEFAULT;
    o.fps = info->fps;
    if (km_writer_open(&w, out, info->width, info->height, &o) != KM_OK) {
        km_reader_close(r);
        return (cost){ -1, -1 };
    }
    int64_t n = 0;
    km_frame *f;
    int rc = KM_OK;
    while (rc == KM_OK && km_reader_read(r, &f) == KM_OK) {
        rc = km_writer_write(w, f->img);
        km_frame_unref(f);
        n++;
    }
    km_reader_close(r);
    if (rc != KM_OK || km_writer_close(w) != KM_OK) {
        fprintf(stderr, "bench_media: %s\n", km_errmsg());
        return (cost){ -1, -1 };
    }
    *frames = n;
    return stop_clock(t0, RUSAGE_SELF);
}

static void bench_transcode(const char *dir, const char *in, int reps)
{
    char out1[512], out2[512], cmd[2048];
    snprintf(out1, sizeof out1, "%s/ours.mp4", dir);
    snprintf(out2, sizeof out2, "%s/cli.mp4", dir);
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -v error -y -threads 1 -i '%s' -vf format=rgb24,format=yuv420p "
             "-c:v libx264 -preset veryfast -crf 23 -g 60 -threads 1 "
             "-movflags +faststart '%s'",
             in, out2);
    samples s;
    int64_t frames = 0;
    for (int k = 0; k < reps; k++) {
        s.ours[k] = ours_transcode(in, out1, &frames);
        s.ref[k] = time_cmd(cmd);
    }
    row("H.264 1280x720 transcode via RGB24, 1 thread", &s, reps, (double)frames, 0,
        "frames/s; x264 veryfast crf 23");
}

/* --------------------------------------------------------------- JPEG */

static int write_ppm(const char *path, const km_image *img)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    fprintf(f, "P6\n%d %d\n255\n", img->width, img->height);
    for (int y = 0; y < img->height; y++)
        fwrite(km_image_row(img, y), 3, (size_t)img->width, f);
    return fclose(f);
}

static cost ours_jpeg(const km_image *img, int iters, size_t *size)
{
    cost t0 = start_clock(RUSAGE_SELF);
    for (int i = 0; i < iters; i++) {
        uint8_t *buf;
        if (km_jpeg_encode(img, 80, &buf, size) != KM_OK)
            return (cost){ -1, -1 };
        free(buf);
    }
    return stop_clock(t0, RUSAGE_SELF);
}

static cost cjpeg_loop(const char *ppm, int iters)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "i=0; while [ $i -lt %d ]; do cjpeg -quality 80 -outfile /dev/null '%s' || exit 1; "
             "i=$((i+1)); done",
             iters, ppm);
    return time_cmd(cmd);
}

static void bench_jpeg(const char *dir, const char *video, int reps)
{
    km_reader *r;
    km_frame *f;
    if (km_reader_open(&r, video, NULL) != KM_OK || km_reader_read(r, &f) != KM_OK) {
        fprintf(stderr, "bench_media: %s\n", km_errmsg());
        return;
    }
    km_reader_close(r);
    char ppm[512], tiny[512];
    snprintf(ppm, sizeof ppm, "%s/frame.ppm", dir);
    snprintf(tiny, sizeof tiny, "%s/tiny.ppm", dir);
    km_image *one = km_image_new(1, 1, KM_PIX_RGB24, 0);
    if (write_ppm(ppm, f->img) != 0 || write_ppm(tiny, one) != 0) {
        fprintf(stderr, "bench_media: cannot write PPM files in %s\n", dir);
        return;
    }
    const int iters = 20;
    samples s;
    size_t size = 0;
    for (int k = 0; k < reps; k++) {
        s.ours[k] = ours_jpeg(f->img, iters, &size);
        cost full = cjpeg_loop(ppm, iters), start = cjpeg_loop(tiny, iters);
        s.ref[k] = (cost){ full.wall - start.wall, full.cpu - start.cpu };
    }
    row("JPEG encode 1280x720 q80 (ms/frame)", &s, reps, iters, 1,
        "ms; cjpeg -quality 80 minus 1x1 start-up");
    printf("|   (our JPEG of that frame: %zu bytes)\n", size);
    km_image_free(one);
    km_frame_unref(f);
}

static int make_video(const char *dir, const char *name, const char *size, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", dir, name);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=%s:rate=30 -t 10 "
             "-c:v libx264 -preset veryfast -pix_fmt yuv420p '%s'",
             size, path);
    return run_quiet(cmd);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    if (reps < 1 || reps > MAX_REPS)
        reps = 3;
    char dir[] = "/tmp/km_bench_media_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char v720[512], v1080[512];
    if (make_video(dir, "testsrc2_720p.mp4", "1280x720", v720, sizeof v720) != 0 ||
        make_video(dir, "testsrc2_1080p.mp4", "1920x1080", v1080, sizeof v1080) != 0) {
        fprintf(stderr, "bench_media: needs the ffmpeg CLI with libx264\n");
        return 1;
    }
    printf("kinema media benchmark: median of %d runs; ratio = ours' speed / reference's\n"
           "(> 1: kinema faster) by wall clock, cpu = the same by CPU time\n\n",
           reps);
    printf("| %-46s | %8s | %9s | %5s | %5s | %s\n", "what", "ours", "reference", "ratio", "cpu",
           "unit; reference");
    printf("|------------------------------------------------|----------|-----------|-------|-------|-----\n");
    bench_decode(v720, "H.264 1280x720", reps);
    bench_decode(v1080, "H.264 1920x1080", reps);
    bench_transcode(dir, v720, reps);
    bench_jpeg(dir, v720, reps);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return run_quiet(cmd) == 0 ? 0 : 1;
}
