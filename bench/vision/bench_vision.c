/*
 * bench_vision.c - every vision kernel on a 1080p RGB and gray frame at 1
 * and 2 threads (and Haar on 640x480), median ms/frame beside OpenCV 4.6
 * timed in the same run on the same input by bench/vision/cv_ref.py with
 * cv2.setNumThreads matched.
 *
 *   bench_vision [--reps N] [--no-opencv]
 *
 * The input is tests/media/basketball1.png resized to 1920x1080 (written to
 * a temp PNG that OpenCV reads too); faces use tests/media/messi5.jpg at
 * 640x480. Prints one table of median (and fastest) ms per frame, ours and
 * OpenCV's; no assertions (timings are not tests).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kinema/media.h"
#include "kinema/util.h"
#include "kinema/vision.h"

#define MAX_ROWS 64
#define CASCADE "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"

typedef struct {
    char kernel[32], fmt[8];
    int threads;
    double ours, cv;         /* median ms */
    double ours_min, cv_min; /* fastest run, less sensitive to a busy machine */
} row;

static row rows[MAX_ROWS];
static int nrows;

typedef struct {
    const km_image *in, *in2;
    km_image *out;
    km_image16 *d16;
    km_image *flow;
    const km_cascade *cascade;
    km_pool *pool;
} ctx;

typedef int (*kernel_fn)(ctx *c);

static int k_gauss5(ctx *c) { return km_gaussian_blur(c->in, c->out, 5, 0, c->pool); }
static int k_gauss15(ctx *c) { return km_gaussian_blur(c->in, c->out, 15, 3.0, c->pool); }
static int k_median3(ctx *c) { return km_median_blur(c->in, c->out, 3, c->pool); }
static int k_median5(ctx *c) { return km_median_blur(c->in, c->out, 5, c->pool); }
static int k_median11(ctx *c) { return km_median_blur(c->in, c->out, 11, c->pool); }
static int k_bilateral(ctx *c) { return km_bilateral(c->in, c->out, 9, 75, 75, c->pool); }
static int k_sobel3(ctx *c) { return km_sobel(c->in, c->d16, 1, 0, 3, c->pool); }
static int k_sobel5(ctx *c) { return km_sobel(c->in, c->d16, 1, 0, 5, c->pool); }
static int k_scharr(ctx *c) { return km_scharr(c->in, c->d16, 1, 0, c->pool); }
static int k_laplacian(ctx *c) { return km_laplacian(c->in, c->d16, 3, c->pool); }
static int k_canny(ctx *c) { return km_canny(c->in, c->out, 100, 200, 3, 0, c->pool); }
static int k_flow(ctx *c) { return km_flow_dense(c->in, c->in2, NULL, c->flow, c->pool); }
static int k_haar(ctx *c)
{
    km_box *b = NULL;
    int n = 0;
    int rc = km_cascade_detect(c->cascade, c->in, NULL, &b, &n, c->pool);
    free(b);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median wall ms over reps runs after a warm-up; *best gets the fastest. */
static double time_ms(kernel_fn fn, ctx *c, int reps, double *best)
{
    double t[256];
    if (reps > 256)
        reps = 256;
    *best = -1;
    if (fn(c)) {
        fprintf(stderr, "kernel failed: %s\n", km_errmsg());
        return -1;
    }
    for (int i = 0; i < reps; i++) {
        double t0 = km_now_s();
        fn(c);
        t[i] = (km_now_s() - t0) * 1000.0;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    *best = t[0];
    return t[reps / 2];
}

static void add_row(const char *kernel, const char *fmt, int threads, double ms, double best)
{
    if (nrows == MAX_ROWS)
        return;
    row *r = &rows[nrows++];
    snprintf(r->kernel, sizeof r->kernel, "%s", kernel);
    snprintf(r->fmt, sizeof r->fmt, "%s", fmt);
    r->threads = threads;
    r->ours = ms;
    r->ours_min = best;
    r->cv = r->cv_min = -1;
}

static void set_cv(const char *kernel, const char *fmt, int threads, double ms, double best)
{
    for (int i = 0; i < nrows; i++)
        if (!strcmp(rows[i].kernel, kernel) && !strcmp(rows[i].fmt, fmt) && rows[i].threads == threads) {
            rows[i].cv = ms;
            rows[i].cv_min = best;
        }
}

/* Run the OpenCV side and merge its JSON lines into the table. */
static void run_opencv(int threads, int reps, const char *img, const char *face)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 bench/vision/cv_ref.py bench %d %d '%s' '%s' '%s'", threads,
             reps, img, face, CASCADE);
    FILE *f = popen(cmd, "r");
    if (!f) {
        fprintf(stderr, "cannot run OpenCV reference\n");
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char kernel[32], fmt[8];
        int th;
        double ms, best;
        if (sscanf(line, "{\"kernel\": \"%31[^\"]\", \"fmt\": \"%7[^\"]\", \"threads\": %d, \"ms\": %lf, "
                   "\"min_ms\": %lf", kernel, fmt, &th, &ms, &best) == 5)
            set_cv(kernel, fmt, th, ms, best);
    }
    if (pclose(f) != 0)
        fprintf(stderr, "OpenCV reference exited with an error\n");
}

static void bench_threads(int threads, int reps, km_image *rgb, km_image *gray, km_image *face,
                          const km_cascade *cascade)
{
    km_pool *pool = threads > 1 ? km_pool_create(threads - 1) : NULL;
    static const struct {
        const char *name;
        kernel_fn fn;
        int out_gray, deriv;
    } ks[] = {
        {"gaussian5", k_gauss5, 0, 0}, {"gaussian15", k_gauss15, 0, 0}, {"median3", k_median3, 0, 0},
        {"median5", k_median5, 0, 0},  {"median11", k_median11, 0, 0},  {"bilateral9", k_bilateral, 0, 0},
        {"sobel3", k_sobel3, 0, 1},    {"sobel5", k_sobel5, 0, 1},      {"scharr", k_scharr, 0, 1},
        {"laplacian3", k_laplacian, 0, 1}, {"canny", k_canny, 1, 0},
    };
    for (int f = 0; f < 2; f++) {
        km_image *in = f ? gray : rgb;
        for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++) {
            ctx c = {in, NULL, km_image_new(in->width, in->height, ks[k].out_gray ? KM_PIX_GRAY8 : in->fmt, 0),
                     km_image16_new(in->width, in->height, in->channels), NULL, NULL, pool};
            int r = reps;
            if (!strcmp(ks[k].name, "bilateral9") || !strcmp(ks[k].name, "median11"))
                r = reps / 3 > 3 ? reps / 3 : 3;
            double best, med = time_ms(ks[k].fn, &c, r, &best);
            add_row(ks[k].name, f ? "gray" : "rgb", threads, med, best);
            km_image_free(c.out);
            km_image16_free(c.d16);
        }
    }
    /* flow: gray frame against itself shifted 3 px */
    km_image *g2 = km_image_new(gray->width, gray->height, KM_PIX_GRAY8, 0);
    for (int y = 0; y < gray->height; y++)
        for (int x = 0; x < gray->width; x++)
            km_image_row(g2, y)[x] = km_image_row(gray, y)[(x + gray->width - 3) % gray->width];
    ctx c = {gray, g2, NULL, NULL, km_image_new(gray->width, gray->height, KM_PIX_FLOAT, 2), NULL, pool};
    double best, med = time_ms(k_flow, &c, reps / 4 > 3 ? reps / 4 : 3, &best);
    add_row("flow", "gray", threads, med, best);
    km_image_free(c.flow);
    km_image_free(g2);
    ctx h = {face, NULL, NULL, NULL, NULL, cascade, pool};
    med = time_ms(k_haar, &h, reps, &best);
    add_row("haar640", "gray", threads, med, best);
    km_pool_destroy(pool);
}

int main(int argc, char **argv)
{
    int reps = 15, opencv = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-opencv"))
            opencv = 0;
        else {
            fprintf(stderr, "usage: bench_vision [--reps N] [--no-opencv]\n");
            return 2;
        }
    }
    if (reps < 3)
        reps = 3;
    km_image *src = NULL, *fsrc = NULL;
    km_cascade *cascade = NULL;
    if (km_image_load("tests/media/basketball1.png", KM_PIX_RGB24, &src) ||
        km_image_load("tests/media/messi5.jpg", KM_PIX_RGB24, &fsrc) || km_cascade_load(CASCADE, &cascade)) {
        fprintf(stderr, "bench_vision: %s (run from the repository root)\n", km_errmsg());
        return 1;
    }
    km_image *rgb = km_image_resize(src, 1920, 1080, KM_INTERP_BILINEAR);
    km_image *face_rgb = km_image_resize(fsrc, 640, 480, KM_INTERP_BILINEAR);
    km_image *gray = rgb ? km_image_convert(rgb, KM_PIX_GRAY8, 1, 0) : NULL;
    km_image *face = face_rgb ? km_image_convert(face_rgb, KM_PIX_GRAY8, 1, 0) : NULL;
    if (!rgb || !gray || !face) {
        fprintf(stderr, "bench_vision: %s\n", km_errmsg());
        return 1;
    }
    char dir[] = "/tmp/kmbenchXXXXXX", img[64], fimg[64];
    if (!mkdtemp(dir))
        return 1;
    snprintf(img, sizeof img, "%s/in1080.png", dir);
    snprintf(fimg, sizeof fimg, "%s/face640.png", dir);
    if (km_image_save(img, rgb, 95) || km_image_save(fimg, face_rgb, 95)) {
        fprintf(stderr, "bench_vision: %s\n", km_errmsg());
        return 1;
    }
    for (int t = 1; t <= 2; t++) {
        bench_threads(t, reps, rgb, gray, face, cascade);
        if (opencv)
            run_opencv(t, reps, img, fimg);
    }
    printf("%-12s %-5s %3s %10s %10s %6s   %9s %9s %6s\n", "kernel", "fmt", "thr", "ours_med", "cv_med",
           "ratio", "ours_min", "cv_min", "ratio");
    for (int i = 0; i < nrows; i++) {
        row *r = &rows[i];
        if (r->cv > 0)
            printf("%-12s %-5s %3d %10.3f %10.3f %6.2f   %9.3f %9.3f %6.2f\n", r->kernel, r->fmt, r->threads,
                   r->ours, r->cv, r->ours / r->cv, r->ours_min, r->cv_min, r->ours_min / r->cv_min);
        else
            printf("%-12s %-5s %3d %10.3f %10s %6s   %9.3f\n", r->kernel, r->fmt, r->threads, r->ours, "-", "-",
                   r->ours_min);
    }
    printf("(flow: ours dense pyramidal LK vs cv2.calcOpticalFlowFarneback; haar640: detectMultiScale "
           "1.1/3 on 640x480)\n");
    unlink(img);
    unlink(fimg);
    rmdir(dir);
    km_image_free(src), km_image_free(fsrc), km_image_free(rgb), km_image_free(gray);
    km_image_free(face), km_image_free(face_rgb);
    km_cascade_free(cascade);
    return 0;
}
