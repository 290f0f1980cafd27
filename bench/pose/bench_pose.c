/*
 * bench_pose.c - pose model speed on this machine: per model, ms per frame
 * with one inference at a time and with two in parallel (two threads, one
 * inference each), FLOPs per inference, achieved GFLOP/s beside a measured
 * single-core sgemm peak, peak RSS; then the end-to-end frame rate of the
 * `kinema pose` pipeline (decode + models + fusion + tracking) on
 * tests/media/vtest.avi. Prints a table; asserts nothing.
 *
 *   bench_pose [MODELS_DIR] [--frames N] [--precision fp32|bf16|auto] [--memory]
 *              [--oracle DIR]
 * --memory: only load every model at once and print the peak RSS.
 * With the oracle installed (bench/oracle.h) the per-model table also shows
 * Google's runtimes on the same model files, timed in the same run: for
 * BlazePose the detector plus the landmark model, as a still runs both.
 * The oracle's timings on the same inputs: bench/pose/oracle_times.sh.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cblas.h>

#include "kinema/media.h"
#include "kinema/pose.h"
#include "../oracle.h"

#define IMAGE "tests/media/messi5.jpg"
#define VIDEO "tests/media/vtest.avi"

static double sgemm_peak_gflops(void)
{
    enum { N = 1024 };
    float *a = malloc(sizeof(float) * N * N), *b = malloc(sizeof(float) * N * N),
          *c = malloc(sizeof(float) * N * N);
    if (!a || !b || !c)
        return 0;
    for (int i = 0; i < N * N; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    openblas_set_num_threads(1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1, a, N, b, N, 0, c, N);
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t = km_now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1, a, N, b, N, 0, c, N);
        t = km_now_s() - t;
        if (t < best)
            best = t;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * N * N * N / best / 1e9;
}

typedef struct {
    km_pose_estimator *e;
    const km_image *img;
    int runs;
    double secs;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    km_pose_result *r = malloc(sizeof *r);
    double t = km_now_s();
    for (int i = 0; i < w->runs && r; i++)
        km_pose_estimate(w->e, w->img, 0, r);
    w->secs = km_now_s() - t;
    free(r);
    return NULL;
}

/* ms per frame with `par` inferences in flight at once. */
static double time_model(const km_pose_net *net, const km_image *img, int runs, int par)
{
    worker w[2];
    pthread_t th[2];
    for (int i = 0; i < par; i++) {
        w[i] = (worker){NULL, img, runs, 0};
        if (km_pose_estimator_new(&w[i].e, net))
            return -1;
        km_pose_result *r = malloc(sizeof *r);
        if (r)
            km_pose_estimate(w[i].e, img, 0, r); /* warm up */
        free(r);
    }
    double t = km_now_s();
    for (int i = 0; i < par; i++)
        pthread_create(&th[i], NULL, work, &w[i]);
    for (int i = 0; i < par; i++)
        pthread_join(th[i], NULL);
    t = km_now_s() - t;
    for (int i = 0; i < par; i++)
        km_pose_estimator_free(w[i].e);
    return 1000.0 * t / (runs * par);
}

/* Pre/post-processing alone (no network): the letterbox sampler on a
 * 768x576 frame and the MoveNet decoders on random heads, ms per call. */
static void time_processing(void)
{
    km_image *img = km_image_new(768, 576, KM_PIX_RGB24, 3);
    enum { G = 64 };
    float *in = malloc(sizeof(float) * 256 * 256 * 3);
    float *h = malloc(sizeof(float) * G * G * 90);
    if (!img || !in || !h)
        return;
    for (int i = 0; i < G * G * 90; i++)
        h[i] = (float)((unsigned)i * 7919u % 1000u) / 250.0f - 3.0f;
    km_roi lb = km_roi_letterbox(768, 576);
    km_roi rot = {384, 288, 400, 400, 0.3f};
    int n = 50;
    double t0 = km_now_s();
    for (int i = 0; i < n; i++)
        km_roi_sample(img, &lb, 256, 256, 1, 0, 1, 1, in);
    double t1 = km_now_s();
    for (int i = 0; i < n; i++)
        km_roi_sample(img, &rot, 256, 256, 1.0f / 255, 0, 0, 0, in);
    double t2 = km_now_s();
    float kp[17][3], out[6][56];
    for (int i = 0; i < n; i++)
        km_movenet_decode_single(h, h + G * G * 17, h + G * G * 18, h + G * G * 52, G, G, kp);
    double t3 = km_now_s();
    for (int i = 0; i < n; i++)
        km_movenet_decode_multi(h, h + G * G * 17, h + G * G * 18, h + G * G * 52, h + G * G * 86,
                                h + G * G * 88, G, G, 0.0f, out);
    double t4 = km_now_s();
    printf("pre/post-processing, ms per call: letterbox 768x576->256 antialiased %.2f, "
           "rotated crop ->256 bilinear %.2f,\n  MoveNet decode single 64x64 %.2f, "
           "MultiPose 64x64 (all 6 decoded) %.2f\n\n",
           1e3 * (t1 - t0) / n, 1e3 * (t2 - t1) / n, 1e3 * (t3 - t2) / n, 1e3 * (t4 - t3) / n);
    km_image_free(img);
    free(in);
    free(h);
}

static double pipeline_fps(const char *models_dir, const km_pose_kind *kinds, int nk, int threads,
                           int frames, int precision)
{
    km_pose_pipeline_opts o;
    memset(&o, 0, sizeof o);
    o.kinds = kinds;
    o.nkinds = nk;
    o.models_dir = models_dir;
    o.threads = threads;
    o.precision = precision;
    o.track = 1;
    km_pose_pipeline *p;
    km_reader *rd;
    if (km_pose_pipeline_new(&p, &o))
        return -1;
    if (km_reader_open(&rd, VIDEO, NULL)) {
        km_pose_pipeline_free(p);
        return -1;
    }
    /* as `kinema pose` does: decode the next batch while this one runs */
    int B = km_pose_pipeline_batch(p), done = 0, n[2] = {0, 0}, cur = 0;
    if (B > 16)
        B = 16;
    km_frame *fr[2][16];
    const km_image *imgs[2][16];
    km_pose_result *res = calloc((size_t)B, sizeof *res);
    double t = km_now_s();
    for (int b = 0;; b ^= 1) {
        n[b] = 0;
        while (n[b] < B && done + n[0] + n[1] < frames && km_reader_read(rd, &fr[b][n[b]]) == 0) {
            imgs[b][n[b]] = fr[b][n[b]]->img;
            n[b]++;
        }
        if (cur) { /* the other buffer is in flight */
            km_pose_pipeline_collect(p, res);
            for (int i = 0; i < n[b ^ 1]; i++)
                km_frame_unref(fr[b ^ 1][i]);
            done += n[b ^ 1];
            cur = 0;
        }
        if (n[b] == 0 || !res) {
            for (int i = 0; i < n[b]; i++)
                km_frame_unref(fr[b][i]);
            break;
        }
        km_pose_pipeline_submit(p, imgs[b], n[b]);
        cur = 1;
    }
    t = km_now_s() - t;
    free(res);
    km_reader_close(rd);
    km_pose_pipeline_free(p);
    return done / t;
}

/* The memory target: every model loaded at once, each with an
 * estimator that has run once; prints the process's peak RSS (VmHWM). */
static int memory_all_models(const char *dir, int precision, const km_image *img)
{
    km_pose_opts po = {precision, 0};
    km_pose_net *net[KM_POSE_NKINDS] = {0};
    km_pose_estimator *est[KM_POSE_NKINDS] = {0};
    km_pose_result *r = malloc(sizeof *r);
    int rc = !r;
    for (int k = 0; k < KM_POSE_NKINDS && !rc; k++)
        rc = km_pose_net_load(&net[k], (km_pose_kind)k, dir, &po) || km_pose_estimator_new(&est[k], net[k]) ||
             km_pose_estimate(est[k], img, 0, r);
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    while (!rc && f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0 || strncmp(line, "VmRSS:", 6) == 0)
            printf("all %d pose models loaded and run once (%s): %s", KM_POSE_NKINDS,
                   precision == 1 ? "fp32" : precision == 2 ? "bf16" : "auto", line);
    if (f)
        fclose(f);
    if (rc)
        fprintf(stderr, "bench_pose: %s\n", km_errmsg());
    for (int k = 0; k < KM_POSE_NKINDS; k++) {
        km_pose_estimator_free(est[k]);
        km_pose_net_free(net[k]);
    }
    free(r);
    return rc;
}

int main(int argc, char **argv)
{
    const char *dir = "models";
    int frames = 100, runs = 20, precision = 0, memory = 0;
    const char *oracle = oracle_default_dir();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc)
            frames = atoi(argv[++i]);
        else if (strcmp(argv[i], "--memory") == 0)
            memory = 1;
        else if (strcmp(argv[i], "--oracle") == 0 && i + 1 < argc)
            oracle = argv[++i];
        else if (strcmp(argv[i], "--precision") == 0 && i + 1 < argc) {
            const char *p = argv[++i];
            precision = strcmp(p, "fp32") == 0 ? 1 : strcmp(p, "bf16") == 0 ? 2 : 0;
        } else
            dir = argv[i];
    }
    km_image *img;
    if (km_image_load(IMAGE, KM_PIX_RGB24, &img)) {
        fprintf(stderr, "bench_pose: %s\n", km_errmsg());
        return 1;
    }
    if (memory) { /* alone in its process: the peak is this case's */
        int rc = memory_all_models(dir, precision, img);
        km_image_free(img);
        return rc;
    }
    run_oracle(oracle, dir);
    double peak = sgemm_peak_gflops();
    printf("pose models on %s, precision %s; one core fp32 sgemm peak %.1f GFLOP/s\n"
           "(bf16 runs can exceed it)\n", IMAGE,
           precision == 1 ? "fp32" : precision == 2 ? "bf16" : "auto", peak);
    printf("%-18s %9s %9s %10s %9s %8s %9s %8s\n", "model", "ms 1 thr", "ms 2 thr", "GFLOP/inf", "GFLOP/s", "of peak",
           "oracle", "speedup");
    km_pose_opts po = {precision, 0};
    for (int k = 0; k < KM_POSE_NKINDS; k++) {
        km_pose_net *net;
        if (km_pose_net_load(&net, (km_pose_kind)k, dir, &po)) {
            printf("%-18s load failed: %s\n", km_pose_kind_name((km_pose_kind)k), km_errmsg());
            continue;
        }
        double ms1 = time_model(net, img, runs, 1), ms2 = time_model(net, img, runs, 2);
        double gf = km_pose_net_flops(net) / 1e9;
        const char *name = km_pose_kind_name((km_pose_kind)k);
        double orc = oracle_ms(name);
        if (km_pose_kind_format((km_pose_kind)k) == KM_KP_BLAZE33) /* a still: detector + landmarks */
            orc = orc > 0 && oracle_ms("blazepose-detector") > 0 ? orc + oracle_ms("blazepose-detector") : 0;
        char ocol[32];
        if (orc > 0)
            snprintf(ocol, sizeof(ocol), "%9.2f %7.1fx", orc, orc / ms1);
        else
            snprintf(ocol, sizeof(ocol), "%9s %8s", "-", "-");
        printf("%-18s %9.2f %9.2f %10.3f %9.1f %7.0f%% %s\n", name, ms1, ms2, gf, gf / (ms1 / 1000.0),
               100.0 * gf / (ms1 / 1000.0) / peak, ocol);
        km_pose_net_free(net);
    }
    printf("(BlazePose: detector + landmarks on a still, i.e. the detector every frame;\n"
           " \"ms 2 thr\" is wall time per frame with two inferences in parallel; kinema's ms are whole\n"
           " estimates (crop, inference, decoding; BlazePose without its segmentation head), the\n"
           " oracle's are the models' inferences alone with every output, same files, same run)\n\n");
    time_processing();
    static const km_pose_kind ens[2] = {KM_POSE_BLAZEPOSE_FULL, KM_POSE_MOVENET_THUNDER};
    static const km_pose_kind mp[1] = {KM_POSE_MOVENET_MULTIPOSE};
    static const km_pose_kind bp[1] = {KM_POSE_BLAZEPOSE_FULL};
    printf("kinema pose pipeline on %s, %d frames (decode, models, fusion, tracking)\n", VIDEO, frames);
    printf("%-34s %8s %8s\n", "models", "1 thr", "2 thr");
    printf("%-34s %8.1f %8.1f fps\n", "ensemble (blazepose-full+thunder)",
           pipeline_fps(dir, ens, 2, 1, frames, precision), pipeline_fps(dir, ens, 2, 2, frames, precision));
    printf("%-34s %8.1f %8.1f fps\n", "blazepose-full (tracking)",
           pipeline_fps(dir, bp, 1, 1, frames, precision), pipeline_fps(dir, bp, 1, 2, frames, precision));
    printf("%-34s %8.1f %8.1f fps\n", "movenet-multipose",
           pipeline_fps(dir, mp, 1, 1, frames, precision), pipeline_fps(dir, mp, 1, 2, frames, precision));
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %.1f MB\n", ru.ru_maxrss / 1024.0);
    km_image_free(img);
    return 0;
}
