/*
 * bench_nn.c - speed of kinema's NN runtime per model.
 *
 * Why: the pose targets are stated in ms per inference on one core; this
 * prints, per model and precision, the median ms of one inference on one
 * thread, the throughput of two inferences run in parallel (two clones on
 * two threads), FLOPs counted from the graph and the achieved GFLOP/s next
 * to this machine's measured peak (a large 1x1 convolution through the same
 * executor, in the same run). Medians, because the machine is shared.
 *
 *   bench_nn [--models DIR] [--iters N] [--precision fp32|bf16|both] [--only MODEL]
 *            [--oracle DIR]
 * Also: one inference on a 2-thread OpenMP team (ms/2thr), to compare.
 * The reference: with an oracle directory (a copy of ../shared/oracle with
 * node_modules; --oracle, $KM_ORACLE_DIR, or /tmp/oracle when present) the
 * same run first times Google's runtimes on the same model files
 * (bench/nn/oracle_bench.js: TFLite-WASM/XNNPACK and TF.js WASM, one
 * thread, median of 15) and prints their ms and the ratio on every row.
 * The *-pipeline rows are BlazePose's landmark graph cut where the pose
 * pipeline cuts it; their oracle column is the whole model's (TFLite runs
 * every output), i.e. what each runtime spends on one landmark pass.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kinema/nn.h"
#include "kinema/util.h"
#include "nn/exec.h"
#include "nn/graph.h"
#include "../oracle.h"

#define MV "StatefulPartitionedCall/"
static const char *const MOVENET_HEADS[4] = {MV "kpt_heatmap_0/conv2d_5/BiasAdd", MV "center_0/conv2d_4/BiasAdd",
                                            MV "kpt_regress_0/conv2d_6/BiasAdd", MV "kpt_offset_0/conv2d_7/BiasAdd"};
static const char *const MULTIPOSE_HEADS[6] = {MV "kpt_heatmap_0/conv2d_7/BiasAdd", MV "center_0/conv2d_4/BiasAdd",
                                              MV "kpt_regress_0/conv2d_8/BiasAdd", MV "kpt_offset_0/conv2d_9/BiasAdd",
                                              MV "box_scale_0/conv2d_5/BiasAdd", MV "box_offset_0/conv2d_6/BiasAdd"};

/* BlazePose landmarks as kinema's pose pipeline cuts them (src/pose/net.c):
 * landmarks, score, world; no segmentation mask, no heatmap. */
static const char *const BP_PIPELINE[3] = {"Identity", "Identity_1", "Identity_4"};

typedef struct bcase {
    const char *name, *path;
    const char *const *outs;
    int nouts;
    double target_fp32, target_bf16; /* ms, 0 = none */
    const char *oracle_as;           /* the oracle row to compare with, NULL: name */
} bcase;

static const bcase CASES[] = {
    {"blazepose-detector", "tflite/pose_detection.tflite", NULL, 0, 0, 0, NULL},
    {"blazepose-lite", "tflite/pose_landmark_lite.tflite", NULL, 0, 0, 0, NULL},
    {"blazepose-full", "tflite/pose_landmark_full.tflite", NULL, 0, 9, 3, NULL},
    {"blazepose-full-pipeline", "tflite/pose_landmark_full.tflite", BP_PIPELINE, 3, 9, 3, "blazepose-full"},
    {"blazepose-lite-pipeline", "tflite/pose_landmark_lite.tflite", BP_PIPELINE, 3, 0, 0, "blazepose-lite"},
    {"blazepose-heavy", "tflite/pose_landmark_heavy.tflite", NULL, 0, 0, 0, NULL},
    {"blazepose-heavy-pipeline", "tflite/pose_landmark_heavy.tflite", BP_PIPELINE, 3, 0, 0, "blazepose-heavy"},
    {"blazepose-full-tfjs", "tfjs/blazepose-full.json", NULL, 0, 0, 0, NULL},
    {"movenet-lightning", "tfjs/movenet-lightning.json", MOVENET_HEADS, 4, 6, 0, NULL},
    {"movenet-thunder", "tfjs/movenet-thunder.json", MOVENET_HEADS, 4, 28, 0, NULL},
    {"movenet-multipose", "tfjs/movenet-multipose.json", MULTIPOSE_HEADS, 6, 0, 0, NULL},
};

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct io {
    km_model *m;
    float *in;
    float *out[8];
    int iters;
    double *times;
    int rc;
} io;

static int io_init(io *b, km_model *m, int iters)
{
    memset(b, 0, sizeof(*b));
    b->m = m;
    b->iters = iters;
    const km_tensor_info *ti = km_model_input(m, 0);
    int64_t n = 1;
    for (int i = 0; i < ti->ndim; i++)
        n *= ti->shape[i];
    b->in = malloc(sizeof(float) * (size_t)n);
    b->times = calloc((size_t)iters, sizeof(double));
    if (!b->in || !b->times)
        return -1;
    for (int64_t i = 0; i < n; i++)
        b->in[i] = (float)((i * 7919) % 255) / 255.0f;
    for (int k = 0; k < km_model_noutputs(m) && k < 8; k++) {
        const km_tensor_info *t = km_model_output(m, k);
        int64_t c = 1;
        for (int i = 0; i < t->ndim; i++)
            c *= t->shape[i];
        if (!(b->out[k] = malloc(sizeof(float) * (size_t)c)))
            return -1;
    }
    return 0;
}

static void io_free(io *b)
{
    free(b->in);
    free(b->times);
    for (int k = 0; k < 8; k++)
        free(b->out[k]);
}

static void *run_loop(void *arg)
{
    io *b = arg;
    const float *ins[1] = {b->in};
    for (int i = 0; i < b->iters && !b->rc; i++) {
        double t0 = km_now_s();
        b->rc = km_model_run(b->m, ins, b->out);
        b->times[i] = km_now_s() - t0;
    }
    return NULL;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    return v[n / 2];
}

/* Peak of the executor: a 1x1 convolution 56x56, 256 -> 256 channels,
 * its fastest run (the machine is shared: the median would measure the
 * neighbours). */
static double measure_peak(int bf16, int iters)
{
    nn_graph g;
    memset(&g, 0, sizeof(g));
    int64_t xs[4] = {1, 56, 56, 256}, ws[4] = {256, 1, 1, 256}, bs[1] = {256};
    float *w = calloc(256 * 256, sizeof(float)), *b = calloc(256, sizeof(float));
    for (int i = 0; i < 256 * 256; i++)
        w[i] = (float)((i % 17) - 8) * 0.01f;
    nn_node n;
    memset(&n, 0, sizeof(n));
    n.op = NN_OP_CONV2D;
    n.nin = 3;
    n.in[0] = nn_graph_add_tensor(&g, "x", 1, 4, xs);
    n.in[1] = nn_graph_add_const(&g, "w", 4, ws, w);
    n.in[2] = nn_graph_add_const(&g, "b", 1, bs, b);
    n.out = nn_graph_add_tensor(&g, "y", 1, 4, xs);
    nn_graph_add_node(&g, &n, "peak");
    g.in[g.nin++] = n.in[0];
    g.out[g.nout++] = n.out;
    nn_plan *p = NULL;
    nn_exec *e = NULL;
    double best = 0;
    float *x = calloc(56 * 56 * 256, sizeof(float)), *y = calloc(56 * 56 * 256, sizeof(float));
    if (!nn_plan_create(&p, &g, bf16, 1) && !nn_exec_create(&e, p)) {
        const float *ins[1] = {x};
        float *outs[1] = {y};
        double *t = calloc((size_t)iters, sizeof(double));
        for (int i = 0; i < iters; i++) {
            double t0 = km_now_s();
            nn_exec_run(e, ins, outs);
            t[i] = km_now_s() - t0;
        }
        median(t, iters); /* sorts: t[0] is the fastest run */
        best = nn_graph_flops(&g) / t[0] / 1e9;
        free(t);
    }
    nn_exec_free(e);
    nn_plan_free(p);
    nn_graph_free(&g);
    free(x);
    free(y);
    return best;
}

static void bench_case(const char *dir, const bcase *c, km_precision prec, int iters, double peak)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, c->path);
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("%-24s %-5s missing %s\n", c->name, prec == KM_PREC_BF16 ? "bf16" : "fp32", path);
        return;
    }
    km_model_opts o = {.precision = prec, .threads = 1, .outputs = c->outs, .noutputs = c->nouts};
    o.image_fp32 = strcmp(c->name, "movenet-lightning") == 0; /* as the pose pipeline loads it */
    km_model *m = NULL, *m2 = NULL;
    double t0 = km_now_s();
    if (km_model_load(&m, path, &o) || km_model_clone(&m2, m)) {
        printf("%-24s load failed: %s\n", c->name, km_errmsg());
        km_model_free(m);
        return;
    }
    double load_ms = (km_now_s() - t0) * 1e3;
    io a, b;
    if (io_init(&a, m, iters) || io_init(&b, m2, iters)) {
        printf("out of memory\n");
        return;
    }
    a.iters = 3; /* warm-up */
    run_loop(&a);
    a.iters = iters;
    run_loop(&a);
    double ms1 = median(a.times, iters) * 1e3, ms1min = a.times[0] * 1e3; /* sorted by median() */
    /* two parallel inferences, one per thread */
    pthread_t th[2];
    t0 = km_now_s();
    pthread_create(&th[0], NULL, run_loop, &a);
    pthread_create(&th[1], NULL, run_loop, &b);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    double ms2 = (km_now_s() - t0) * 1e3 / (2.0 * iters);
    /* one inference on a 2-thread OpenMP team, for comparison */
    double ms2t = 0;
    km_model *mt = NULL;
    o.threads = 2;
    if (!km_model_load(&mt, path, &o)) {
        io t2;
        int n2 = iters < 7 ? iters : 7; /* a spinning team can be very slow here */
        if (!io_init(&t2, mt, n2)) {
            run_loop(&t2);
            ms2t = median(t2.times, n2) * 1e3;
        }
        io_free(&t2);
        km_model_free(mt);
    }
    nn_set_threads(1);
    double gf = km_model_flops(m) / 1e9;
    double target = prec == KM_PREC_BF16 ? c->target_bf16 : c->target_fp32;
    char tgt[32] = "";
    if (target > 0)
        snprintf(tgt, sizeof(tgt), "<= %.0f %s", target, ms1 <= target ? "met" : "MISSED");
    double orc = oracle_ms(c->oracle_as ? c->oracle_as : c->name);
    /* (not `char ocol[32] = "       -       -"`: GCC 12.2 with
     * -march=native broadcasts that periodic 16-byte literal over all 32
     * bytes, dropping the terminating NUL) */
    char ocol[32];
    if (orc > 0)
        snprintf(ocol, sizeof(ocol), "%8.2f %6.1fx", orc, orc / ms1);
    else
        snprintf(ocol, sizeof(ocol), "%8s %7s", "-", "-");
    printf("%-24s %-5s %7.3f %8.2f %7.2f %8.2f %8.2f %8.1f %6.1f%%  %7.0f %s  %s%s\n", c->name,
           prec == KM_PREC_BF16 ? "bf16" : "fp32", gf, ms1, ms1min, ms2, ms2t, gf / ms1 * 1e3,
           100.0 * gf / ms1 * 1e3 / peak, load_ms, ocol, tgt, a.rc || b.rc ? " (run error)" : "");
    io_free(&a);
    io_free(&b);
    km_model_free(m2);
    km_model_free(m);
}

int main(int argc, char **argv)
{
    const char *dir = "models";
    const char *only = NULL; /* --only NAME: one model row */
    const char *oracle = oracle_default_dir();
    int iters = 30, do32 = 1, do16 = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--models") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
            iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--oracle") && i + 1 < argc)
            oracle = argv[++i];
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc) {
            const char *p = argv[++i];
            do32 = strcmp(p, "bf16") != 0;
            do16 = strcmp(p, "fp32") != 0;
        } else {
            fprintf(stderr, "usage: %s [--models DIR] [--iters N] [--precision fp32|bf16|both] [--only MODEL] [--oracle DIR]\n", argv[0]);
            return 2;
        }
    }
    if (iters < 3)
        iters = 3;
    setvbuf(stdout, NULL, _IOLBF, 0);
    run_oracle(oracle, dir);
    int has16 = nn_cpu_has_bf16();
    nn_set_threads(1);
    double p32 = measure_peak(0, 40), p16 = has16 ? measure_peak(1, 40) : 0;
    printf("# kinema NN bench: 1 thread per inference, median (and min) of %d runs; 'ms/2par' = wall ms per inference\n"
           "# with two inferences in parallel (two clones, two threads); 'ms/2thr' = one inference on a 2-thread\n"
           "# OpenMP team. Peak (1x1 conv 56x56x256->256, 1 thread, fastest of 40 runs):\n"
           "# fp32 %.0f GFLOP/s, bf16 %.0f GFLOP/s%s; %%peak is against the peak of the row's precision\n",
           iters, p32, p16, has16 ? "" : " (no AMX/AVX512-BF16)");
    printf("%-24s %-5s %7s %8s %7s %8s %8s %8s %7s  %7s %8s %7s  %s\n", "model", "prec", "GFLOP", "ms/1thr", "min",
           "ms/2par", "ms/2thr", "GFLOP/s", "%peak", "load ms", "oracle", "speedup", "target (1 core, median)");
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        if (only && strcmp(only, CASES[i].name))
            continue;
        if (do32)
            bench_case(dir, &CASES[i], KM_PREC_FP32, iters, p32);
        if (do16 && has16)
            bench_case(dir, &CASES[i], KM_PREC_BF16, iters, p16 > 0 ? p16 : 1);
    }
    printf("# peak measured again after the runs: fp32 %.0f GFLOP/s, bf16 %.0f GFLOP/s\n", measure_peak(0, 40),
           has16 ? measure_peak(1, 40) : 0.0);
    return 0;
}
