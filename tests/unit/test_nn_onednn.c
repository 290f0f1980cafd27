/*
 * test_nn_onednn.c - the oneDNN executor against the reference kernels.
 *
 * Why: the executor fuses nodes (PAD into convolution padding, ACT /
 * LOGISTIC / ADD into convolution post-ops), aliases RESHAPE, reuses
 * buffers by liveness and hands layouts to oneDNN; each of these is a way
 * to be wrong that per-op checks and whole-model runs catch here. Also
 * checks that clones of a model run in parallel threads give the same
 * results. Every small graph runs in fp32 and, where the CPU has it, bf16. Whole-model cases skip when models/ is missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kinema/nn.h"
#include "kinema/util.h"
#include "test_common.h"
#include "nn/exec.h"
#include "nn/graph.h"
#include "nn/narrow.h"
#include "nn/ref.h"

#define NN_TEST_SEED 777
#define NN_TEST_RANGE 1
#include "test_nn_common.h"

static int input4(nn_graph *g, int64_t n, int64_t h, int64_t w, int64_t c)
{
    int64_t s[4] = {n, h, w, c};
    int id = act_t(g, 4, s);
    g->in[g->nin++] = id;
    return id;
}

/* Add a node producing a new tensor; returns the tensor id. */
static int node(nn_graph *g, nn_node *n)
{
    int64_t z[4] = {1, 1, 1, 1};
    n->out = act_t(g, 4, z);
    int rc = nn_graph_add_node(g, n, "n");
    if (rc)
        fail_msg("add node: %s", km_errmsg());
    return n->out;
}

/* A convolution node (depthwise: cout is ignored) with random weights. */
static int conv_dil(nn_graph *g, int x, int dw, int cout, int k, int stride, int dil, int same, nn_act a)
{
    int64_t cin = g->t[x].shape[3];
    int64_t ws[4] = {dw ? 1 : cout, k, k, cin}, bs[1] = {dw ? cin : cout};
    nn_node n;
    memset(&n, 0, sizeof(n));
    n.op = dw ? NN_OP_DWCONV2D : NN_OP_CONV2D;
    n.nin = 3;
    n.in[0] = x;
    n.in[1] = const_t(g, 4, ws);
    n.in[2] = const_t(g, 1, bs);
    n.stride[0] = n.stride[1] = stride;
    n.dil[0] = n.dil[1] = dil;
    n.same = same;
    n.act = a;
    return node(g, &n);
}

static int conv(nn_graph *g, int x, int dw, int cout, int k, int stride, int same, nn_act a)
{
    return conv_dil(g, x, dw, cout, k, stride, 1, same, a);
}

static int simple(nn_graph *g, nn_opk op, int a, int b, nn_act act)
{
    nn_node n;
    memset(&n, 0, sizeof(n));
    n.op = op;
    n.nin = b >= 0 ? 2 : 1;
    n.in[0] = a;
    n.in[1] = b;
    n.act = act;
    return node(g, &n);
}

/* Run g's plan (fp32 or bf16) on `in` and compare every output with the
 * reference's `want`: |got - want| <= tol * (scale + |want|), scale 1 in
 * fp32 and in bf16 the larger of 1 and the output's largest magnitude
 * (rounding errors scale with the terms summed, of the order of 1 here,
 * not with a result that cancels to near zero). */
static void compare_plan(nn_graph *g, float **in, float **want, int bf16, double tol, int consuming)
{
    nn_plan *p = NULL;
    nn_exec *e = NULL;
    if ((consuming ? nn_plan_create_consuming(&p, g, bf16, 1) : nn_plan_create(&p, g, bf16, 1)) != 0)
        fail_msg("plan: %s", km_errmsg());
    assert_int_equal(nn_exec_create(&e, p), 0);
    float *got[NN_MAXIN];
    for (int i = 0; i < g->nout; i++)
        got[i] = malloc(sizeof(float) * (size_t)nn_numel(&g->t[g->out[i]]));
    for (int rep = 0; rep < 2; rep++) { /* twice: buffers reused across runs */
        assert_int_equal(nn_exec_run(e, (const float *const *)in, got), 0);
        for (int i = 0; i < g->nout; i++) {
            int64_t n = nn_numel(&g->t[g->out[i]]);
            double scale = 1; /* inputs and weights are within [-1, 1] */
            for (int64_t k = 0; bf16 && k < n; k++)
                scale = fmax(scale, fabs(want[i][k]));
            for (int64_t k = 0; k < n; k++)
                if (fabs(got[i][k] - want[i][k]) > tol * (scale + fabs(want[i][k])))
                    fail_msg("%s output %d[%lld]: executor %.7g ref %.7g", bf16 ? "bf16" : "fp32", i, (long long)k,
                             got[i][k], want[i][k]);
        }
    }
    nn_exec_free(e);
    nn_plan_free(p);
    for (int i = 0; i < g->nout; i++)
        free(got[i]);
}

/* Run g with the reference kernels and with the executor (fp32 to tol;
 * bf16, where the CPU has it, to 2 % of the output's range: 8-bit
 * mantissas; a wrong index or layout errs by the order of the values)
 * and free g. consuming: the last plan is made by
 * nn_plan_create_consuming, which frees g's weights as it goes. */
static void check_graph_as(nn_graph *g, double tol, int consuming)
{
    float *in[NN_MAXIN], *want[NN_MAXIN];
    for (int i = 0; i < g->nin; i++)
        in[i] = rand_data(nn_numel(&g->t[g->in[i]]));
    /* reference: one buffer per tensor */
    float **buf = calloc((size_t)g->nt, sizeof(float *));
    for (int i = 0; i < g->nin; i++)
        buf[g->in[i]] = in[i];
    for (int i = 0; i < g->nn; i++) {
        const nn_node *n = &g->n[i];
        const float *ins[NN_MAXIN];
        for (int k = 0; k < n->nin; k++)
            ins[k] = g->t[n->in[k]].data ? g->t[n->in[k]].data : buf[n->in[k]];
        buf[n->out] = malloc(sizeof(float) * (size_t)nn_numel(&g->t[n->out]));
        assert_int_equal(nn_ref_node(g, n, ins, buf[n->out]), 0);
    }
    for (int i = 0; i < g->nout; i++)
        want[i] = buf[g->out[i]];
    int bf16 = nn_cpu_has_bf16();
    compare_plan(g, in, want, 0, tol, consuming && !bf16);
    if (bf16)
        compare_plan(g, in, want, 1, 0.02, consuming);
    for (int i = 0; i < g->nt; i++)
        free(buf[i]);
    free(buf);
    nn_graph_free(g);
}

static void check_graph(nn_graph *g, double tol)
{
    check_graph_as(g, tol, 0);
}

static void test_convs(void **s)
{
    (void)s;
    for (int it = 0; it < 60; it++) {
        nn_graph g;
        memset(&g, 0, sizeof(g));
        int dw = it & 1, k = (int[]){1, 3, 5}[irand(0, 2)];
        int x = input4(&g, 1, irand(k, 20), irand(k, 20), irand(1, 40));
        g.out[g.nout++] = conv(&g, x, dw, irand(1, 48), k, irand(1, 2), irand(0, 1), (nn_act)irand(0, 2));
        check_graph(&g, 1e-4);
    }
}

/* Depthwise (oneDNN; narrow.c for 1-16 channels at stride 1, and in bf16
 * plans for more channels at 3x3 / 5x5, 5x5 also at stride 2): widths below and above the
 * kernels' blocks, channel counts with vector tails, strides, dilations,
 * VALID/SAME, fp32 or bf16 input, and fused residual ADD / RELU6 /
 * LOGISTIC; then maps tall and wide enough that the wide kernel splits
 * them into bands of rows. */
static void test_depthwise(void **s)
{
    (void)s;
    for (int it = 0; it < 6; it++) {
        nn_graph g;
        memset(&g, 0, sizeof(g));
        int x = input4(&g, 1, 90 + it, 120 + it, it & 1 ? 40 : 24);
        int y = conv(&g, x, 1, 0, it < 2 ? 3 : 5, it < 4 ? 1 : 2, it & 1, NN_ACT_RELU6);
        g.out[g.nout++] = y;
        check_graph(&g, 1e-4);
    }
    for (int it = 0; it < 40; it++) {
        nn_graph g;
        memset(&g, 0, sizeof(g));
        int k = irand(0, 1) ? 3 : 5, dil = it % 5 == 4 ? 2 : 1, stride = dil > 1 ? 1 : irand(1, 2);
        int64_t c = (int64_t[]){1, 2, 4, 7, 8, 16, 17, 40, 64, 70}[irand(0, 9)];
        int x = input4(&g, 1, irand(k * dil, 30), irand(k * dil, 45), c);
        if (it & 1) /* a dense convolution first: in bf16 plans it hands over bf16 */
            x = conv(&g, x, 0, (int)c, 1, 1, 1, NN_ACT_NONE);
        int same = stride == 1 && it % 3 == 0 ? 1 : irand(0, 1);
        int y = conv_dil(&g, x, 1, 0, k, stride, dil, same, (nn_act)irand(0, 2));
        if (stride == 1 && same && it % 3 == 0)
            y = simple(&g, NN_OP_ADD, y, x, NN_ACT_RELU6); /* residual, fused */
        else if (it % 3 == 1)
            y = simple(&g, NN_OP_SIGMOID, y, -1, NN_ACT_NONE);
        g.out[g.nout++] = y;
        check_graph(&g, 1e-4);
    }
}

/* Bands of the plan of g in fp32 (bf16 = 0) or bf16. */
static int plan_bands_of(const nn_graph *g, int bf16)
{
    nn_plan *p = NULL;
    if (nn_plan_create(&p, g, bf16, 1) != 0)
        fail_msg("plan: %s", km_errmsg());
    int n = nn_plan_bands(p);
    nn_plan_free(p);
    return n;
}

/* A 1x1 convolution to a tensor too large for L2 and the depthwise
 * convolution that alone reads it run band by band (exec.c, band
 * fusion): strides 1 and 2, kernels 3 and 5, SAME, VALID and a folded
 * PAD, heights that leave a short last band, post-ops on both. The tensor
 * between is 3.5-7 MB in fp32 (banded) and half that in bf16 (banded
 * from 3 MB). Also a 1x1 output read twice, which must stay unbanded. */
static void test_band_fusion(void **s)
{
    (void)s;
    static const struct {
        int h, w, c, k, stride, same, pad_rows;
    } cases[] = {
        {128, 128, 96, 3, 2, 1, 0}, {127, 100, 72, 3, 1, 1, 0}, {130, 96, 80, 5, 2, 1, 0},
        {97, 97, 96, 5, 1, 0, 0},   {128, 120, 64, 3, 2, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nn_graph g;
        memset(&g, 0, sizeof(g));
        int x = input4(&g, 1, cases[i].h, cases[i].w, 12);
        int t = conv(&g, x, 0, cases[i].c, 1, 1, 1, i & 1 ? NN_ACT_RELU6 : NN_ACT_NONE);
        if (cases[i].pad_rows) { /* BlazePose's stride-2 blocks: PAD (0, 1) + VALID */
            nn_node p;
            memset(&p, 0, sizeof(p));
            p.op = NN_OP_PAD;
            p.nin = 1;
            p.in[0] = t;
            p.pads[1][1] = p.pads[2][1] = 1;
            t = node(&g, &p);
        }
        int y = conv(&g, t, 1, 0, cases[i].k, cases[i].stride, cases[i].same, NN_ACT_RELU6);
        if (i == 2)
            y = simple(&g, NN_OP_SIGMOID, y, -1, NN_ACT_NONE);
        g.out[g.nout++] = y;
        assert_int_equal(plan_bands_of(&g, 0), 1);
        if (nn_cpu_has_bf16())
            assert_int_equal(plan_bands_of(&g, 1),
                             (size_t)cases[i].h * (size_t)cases[i].w * (size_t)cases[i].c * 2 >= (3u << 20));
        check_graph(&g, 1e-4);
    }
    nn_graph g;
    memset(&g, 0, sizeof(g));
    int x = input4(&g, 1, 128, 128, 8);
    int t = conv(&g, x, 0, 96, 1, 1, 1, NN_ACT_NONE);
    g.out[g.nout++] = conv(&g, t, 1, 0, 3, 2, 1, NN_ACT_NONE);
    g.out[g.nout++] = t;
    assert_int_equal(plan_bands_of(&g, 0), 0);
    check_graph(&g, 1e-4);
}

/* Dense convolutions on narrow tensors (kinema's narrow.c): to one output
 * channel (kernels 1/3/5, dilation, SAME/VALID) or 1x1 to 2-16 channels;
 * input channels 1..16 dividing 16, widths below and above the kernels'
 * vector blocks, fp32 or bf16 input (a dense convolution first),
 * ReLU/ReLU6 and a residual ADD fused. */
static void test_narrow_dense(void **s)
{
    (void)s;
    for (int it = 0; it < 40; it++) {
        nn_graph g;
        memset(&g, 0, sizeof(g));
        int c = (int[]){1, 2, 4, 8, 16}[irand(0, 4)], co = (int[]){1, 1, 2, 4, 8, 16}[irand(0, 5)];
        int k = co > 1 ? 1 : (int[]){1, 3, 5}[irand(0, 2)], dil = it % 4 == 3 ? 2 : 1;
        int x = input4(&g, 1, irand(k * dil, 24), irand(k * dil, 40), c);
        if (it & 1)
            x = conv(&g, x, 0, c, 1, 1, 1, NN_ACT_NONE);
        int same = irand(0, 1);
        int y = conv_dil(&g, x, 0, co, k, 1, dil, same, (nn_act)irand(0, 2));
        if (co == c && (k == 1 || same) && it % 3 == 0)
            y = simple(&g, NN_OP_ADD, y, x, (nn_act)irand(0, 2)); /* residual, fused */
        g.out[g.nout++] = y;
        check_graph(&g, 1e-4);
    }
}

static void test_dilated(void **s)
{
    (void)s;
    nn_graph g;
    memset(&g, 0, sizeof(g));
    int x = input4(&g, 1, 13, 11, 8);
    int64_t ws[4] = {6, 3, 3, 8}, bs[1] = {6};
    nn_node n;
    memset(&n, 0, sizeof(n));
    n.op = NN_OP_CONV2D;
    n.nin = 3;
    n.in[0] = x;
    n.in[1] = const_t(&g, 4, ws);
    n.in[2] = const_t(&g, 1, bs);
    n.dil[0] = 2, n.dil[1] = 3, n.same = 1;
    g.out[g.nout++] = node(&g, &n);
    check_graph(&g, 1e-4);
}

/* PAD + VALID conv (folded), channel PAD + ADD (not folded). */
static void test_pad_fold(void **s)
{
    (void)s;
    nn_graph g;
    memset(&g, 0, sizeof(g));
    int x = input4(&g, 1, 16, 16, 8);
    nn_node p;
    memset(&p, 0, sizeof(p));
    p.op = NN_OP_PAD;
    p.nin = 1;
    p.in[0] = x;
    p.pads[1][0] = 0, p.pads[1][1] = 1, p.pads[2][0] = 1, p.pads[2][1] = 2;
    int px = node(&g, &p);
    int c = conv(&g, px, 1, 0, 3, 2, 0, NN_ACT_RELU6); /* depthwise stride 2 VALID */
    int c2 = conv(&g, c, 0, 12, 1, 1, 0, NN_ACT_NONE);
    nn_node cp;
    memset(&cp, 0, sizeof(cp));
    cp.op = NN_OP_PAD;
    cp.nin = 1;
    cp.in[0] = c;
    cp.pads[3][1] = 4; /* 8 -> 12 channels, as BlazePose residuals do */
    int padded = node(&g, &cp);
    g.out[g.nout++] = simple(&g, NN_OP_ADD, c2, padded, NN_ACT_RELU);
    check_graph(&g, 1e-4);
}

/* conv + ADD of two convolutions + RELU6, conv + LOGISTIC, residual ADD. */
static void test_post_ops(void **s)
{
    (void)s;
    nn_graph g;
    memset(&g, 0, sizeof(g));
    int x = input4(&g, 1, 12, 12, 16);
    int a = conv(&g, x, 0, 16, 1, 1, 1, NN_ACT_NONE);
    int b = conv(&g, x, 1, 0, 3, 1, 1, NN_ACT_RELU);
    int sum = simple(&g, NN_OP_ADD, a, b, NN_ACT_NONE);
    int r6 = simple(&g, NN_OP_ACT, sum, -1, NN_ACT_RELU6);
    int c = conv(&g, r6, 0, 16, 3, 1, 1, NN_ACT_NONE);
    int res = simple(&g, NN_OP_ADD, x, c, NN_ACT_RELU6); /* addend is the graph input */
    int h = conv(&g, res, 0, 5, 1, 1, 1, NN_ACT_NONE);
    g.out[g.nout++] = simple(&g, NN_OP_SIGMOID, h, -1, NN_ACT_NONE);
    g.out[g.nout++] = res; /* an output that is also consumed */
    check_graph(&g, 1e-4);
}

static void test_pool_resize(void **s)
{
    (void)s;
    for (int it = 0; it < 12; it++) {
        nn_graph g;
        memset(&g, 0, sizeof(g));
        int k = irand(1, 3); /* VALID pooling needs the input at least this big */
        int x = input4(&g, 1, irand(k > 2 ? k : 2, 17), irand(k > 2 ? k : 2, 17), irand(1, 24));
        nn_node p;
        memset(&p, 0, sizeof(p));
        p.op = it & 1 ? NN_OP_MAXPOOL : NN_OP_AVGPOOL;
        p.nin = 1;
        p.in[0] = x;
        p.kernel[0] = p.kernel[1] = k;
        p.stride[0] = p.stride[1] = irand(1, 2);
        p.same = irand(0, 1);
        g.out[g.nout++] = node(&g, &p);
        nn_node r;
        memset(&r, 0, sizeof(r));
        r.op = NN_OP_RESIZE_BILINEAR;
        r.nin = 1;
        r.in[0] = x;
        r.half_pixel = 1;
        int f = irand(1, 4);
        r.size[0] = (int)g.t[x].shape[1] * f + (it > 8 ? irand(-1, 3) : 0);
        r.size[1] = (int)g.t[x].shape[2] * f + (it > 8 ? irand(-1, 3) : 0);
        g.out[g.nout++] = node(&g, &r);
        check_graph(&g, 1e-5);
    }
}

/* RESHAPE aliases, CONCAT, DEPTH_TO_SPACE, broadcast MUL with a constant. */
static void test_misc(void **s)
{
    (void)s;
    nn_graph g;
    memset(&g, 0, sizeof(g));
    int x = input4(&g, 1, 6, 6, 8);
    int64_t cs[4] = {1, 1, 1, 8};
    int k = const_t(&g, 4, cs);
    int m = simple(&g, NN_OP_MUL, x, k, NN_ACT_NONE);
    int c = conv(&g, m, 0, 12, 3, 1, 1, NN_ACT_RELU);
    nn_node d;
    memset(&d, 0, sizeof(d));
    d.op = NN_OP_DEPTH_TO_SPACE;
    d.nin = 1;
    d.in[0] = c;
    d.block = 2;
    int d2 = node(&g, &d);
    nn_node r;
    memset(&r, 0, sizeof(r));
    r.op = NN_OP_RESHAPE;
    r.nin = 1;
    r.in[0] = d2;
    int64_t rsh[3] = {1, 144, 3};
    r.out = act_t(&g, 3, rsh);
    assert_int_equal(nn_graph_add_node(&g, &r, "reshape"), 0);
    nn_node r2 = r;
    r2.in[0] = c;
    int64_t rsh2[3] = {1, 36, 12};
    r2.out = act_t(&g, 3, rsh2);
    assert_int_equal(nn_graph_add_node(&g, &r2, "reshape2"), 0);
    nn_node cc;
    memset(&cc, 0, sizeof(cc));
    cc.op = NN_OP_CONCAT;
    cc.nin = 2;
    cc.in[0] = c;
    cc.in[1] = x;
    cc.axis = 3;
    g.out[g.nout++] = node(&g, &cc);
    g.out[g.nout++] = r.out;
    g.out[g.nout++] = r2.out;
    check_graph(&g, 1e-5);
}

/* ------------------------------------------------------- whole models */

#define MV "StatefulPartitionedCall/"
static const char *const MOVENET_HEADS[4] = {MV "kpt_heatmap_0/conv2d_5/BiasAdd", MV "center_0/conv2d_4/BiasAdd",
                                            MV "kpt_regress_0/conv2d_6/BiasAdd", MV "kpt_offset_0/conv2d_7/BiasAdd"};

static void whole_model(const char *rel, int cut, double scale)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tc_models_dir(), rel);
    struct stat st;
    if (stat(path, &st) != 0)
        skip();
    km_model_opts o = {.precision = KM_PREC_FP32, .outputs = cut ? MOVENET_HEADS : NULL, .noutputs = cut ? 4 : 0};
    km_model *fast = NULL, *ref = NULL;
    assert_int_equal(km_model_load(&fast, path, &o), 0);
    o.use_reference = 1;
    assert_int_equal(km_model_load(&ref, path, &o), 0);
    const km_tensor_info *ti = km_model_input(fast, 0);
    int64_t n = 1;
    for (int i = 0; i < ti->ndim; i++)
        n *= ti->shape[i];
    float *x = rand_data(n);
    for (int64_t i = 0; i < n; i++) /* smooth-ish image-like input */
        x[i] = (float)((0.5 + 0.4 * sin((double)i * 0.001) + 0.1 * x[i]) * scale);
    const float *ins[1] = {x};
    int no = km_model_noutputs(fast);
    float *a[8], *b[8];
    for (int i = 0; i < no; i++) {
        const km_tensor_info *t = km_model_output(fast, i);
        int64_t m = 1;
        for (int d = 0; d < t->ndim; d++)
            m *= t->shape[d];
        a[i] = malloc(sizeof(float) * (size_t)m);
        b[i] = malloc(sizeof(float) * (size_t)m);
    }
    assert_int_equal(km_model_run(fast, ins, a), 0);
    assert_int_equal(km_model_run(ref, ins, b), 0);
    for (int i = 0; i < no; i++) {
        const km_tensor_info *t = km_model_output(fast, i);
        int64_t m = 1;
        for (int d = 0; d < t->ndim; d++)
            m *= t->shape[d];
        double maxabs = 0, worst = 0;
        for (int64_t k = 0; k < m; k++)
            maxabs = fmax(maxabs, fabs(b[i][k]));
        for (int64_t k = 0; k < m; k++) {
            double err = fabs(a[i][k] - b[i][k]) / fmax(fabs(b[i][k]), 1e-2 * maxabs + 1e-12);
            worst = fmax(worst, err);
        }
        printf("# %s %s: max rel err %.2e\n", rel, t->name, worst);
        /* the segmentation head amplifies fp32 rounding (the reference
         * accumulates in double): it gets 2e-2, everything else 2e-3 */
        assert_true(worst < (strcmp(t->name, "Identity_2") == 0 ? 2e-2 : 2e-3));
        free(a[i]);
        free(b[i]);
    }
    free(x);
    km_model_free(fast);
    km_model_free(ref);
}

static void test_model_detector(void **s) { (void)s; whole_model("tflite/pose_detection.tflite", 0, 1.0); }
static void test_model_lite(void **s) { (void)s; whole_model("tflite/pose_landmark_lite.tflite", 0, 1.0); }
static void test_model_tfjs_detector(void **s) { (void)s; whole_model("tfjs/blazepose-detector.json", 0, 1.0); }
static void test_model_lightning(void **s) { (void)s; whole_model("tfjs/movenet-lightning.json", 1, 255.0); }

/* ------------------------------------------------------------ clones */

typedef struct job {
    km_model *m;
    const float *x;
    float *out[8];
    int rc;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    for (int i = 0; i < 3 && !j->rc; i++)
        j->rc = km_model_run(j->m, &j->x, j->out);
    return NULL;
}

static void clone_parallel(const char *path, km_precision prec)
{
    km_model *m = NULL, *c = NULL;
    km_model_opts o = {.precision = prec};
    assert_int_equal(km_model_load(&m, path, &o), 0);
    assert_int_equal(km_model_clone(&c, m), 0);
    assert_int_equal(km_model_noutputs(c), km_model_noutputs(m));
    float *x = rand_data(256 * 256 * 3);
    job jobs[2] = {{.m = m, .x = x}, {.m = c, .x = x}};
    int no = km_model_noutputs(m);
    int64_t sizes[8];
    for (int i = 0; i < no; i++) {
        const km_tensor_info *t = km_model_output(m, i);
        sizes[i] = 1;
        for (int d = 0; d < t->ndim; d++)
            sizes[i] *= t->shape[d];
        for (int j = 0; j < 2; j++)
            jobs[j].out[i] = malloc(sizeof(float) * (size_t)sizes[i]);
    }
    pthread_t th[2];
    for (int j = 0; j < 2; j++)
        assert_int_equal(pthread_create(&th[j], NULL, run_job, &jobs[j]), 0);
    for (int j = 0; j < 2; j++)
        pthread_join(th[j], NULL);
    assert_int_equal(jobs[0].rc, 0);
    assert_int_equal(jobs[1].rc, 0);
    for (int i = 0; i < no; i++) {
        assert_memory_equal(jobs[0].out[i], jobs[1].out[i], sizeof(float) * (size_t)sizes[i]);
        free(jobs[0].out[i]);
        free(jobs[1].out[i]);
    }
    free(x);
    km_model_free(c);
    km_model_free(m);
}

static void test_clone_parallel(void **s)
{
    (void)s;
    char path[512];
    snprintf(path, sizeof(path), "%s/tflite/pose_landmark_lite.tflite", tc_models_dir());
    struct stat st;
    if (stat(path, &st) != 0)
        skip();
    clone_parallel(path, KM_PREC_FP32);
    if (nn_cpu_has_bf16()) /* bf16 plans also share reorder steps */
        clone_parallel(path, KM_PREC_BF16);
}

/* NN_PLAN_IMAGE_F32: in a bf16 plan a convolution reading a 3-channel
 * fp32 image computes in fp32, so its output equals the fp32 plan's bit
 * for bit (without the flag the image is rounded to bf16 and it differs). */
static void test_image_fp32(void **s)
{
    (void)s;
    if (!nn_cpu_has_bf16())
        skip();
    nn_graph g;
    memset(&g, 0, sizeof(g));
    int x = input4(&g, 1, 20, 22, 3);
    int y = conv(&g, x, 0, 16, 3, 2, 1, NN_ACT_RELU6);
    g.out[g.nout++] = y;
    size_t n = (size_t)nn_numel(&g.t[y]);
    float *in = rand_data(nn_numel(&g.t[x])), *out[3];
    for (int k = 0; k < 3; k++) {
        nn_plan *p = NULL;
        nn_exec *e = NULL;
        int flags = (int[]){0, NN_PLAN_BF16 | NN_PLAN_IMAGE_F32, NN_PLAN_BF16}[k];
        assert_int_equal(nn_plan_create(&p, &g, flags, 1), 0);
        assert_int_equal(nn_exec_create(&e, p), 0);
        out[k] = malloc(sizeof(float) * n);
        assert_int_equal(nn_exec_run(e, (const float *const *)&in, &out[k]), 0);
        nn_exec_free(e);
        nn_plan_free(p);
    }
    assert_memory_equal(out[0], out[1], sizeof(float) * n);
    assert_memory_not_equal(out[0], out[2], sizeof(float) * n);
    for (int k = 0; k < 3; k++)
        free(out[k]);
    free(in);
    nn_graph_free(&g);
}

/* nn_plan_create_consuming frees each convolution's IR weights once the
 * plan holds its copy, but not while another convolution still needs them:
 * here two dense convolutions, then two depthwise ones, share weights. */
static void test_consuming_plan(void **s)
{
    (void)s;
    for (int dw = 0; dw <= 1; dw++) {
        nn_graph g;
        memset(&g, 0, sizeof(g));
        int x = input4(&g, 1, 12, 14, 24);
        conv(&g, x, dw, 24, 3, 1, 1, NN_ACT_RELU);
        nn_node twin = g.n[g.nn - 1];
        twin.in[0] = twin.out; /* the same weights and bias on the first one's output */
        g.out[g.nout++] = node(&g, &twin);
        check_graph_as(&g, 1e-4, 1);
    }
}

/* Executors share their thread's workspace (activations and scratch) and
 * keep memory bindings for a few recent threads: runs of two executors
 * interleaved on one thread, and of one executor on more threads than it
 * keeps bindings for (the workspace grows, bindings are recycled), give
 * the same bits as each executor alone. */
typedef struct ws_run {
    nn_exec *e[2];
    float *in[2], *out[2];
    int rc;
} ws_run;

static void *ws_thread(void *arg)
{
    ws_run *r = arg;
    r->rc = 0;
    for (int k = 1; k >= 0 && !r->rc; k--) /* the larger graph first: the workspace does not grow for the other */
        r->rc = nn_exec_run(r->e[k], (const float *const *)&r->in[k], &r->out[k]);
    return NULL;
}

static void test_thread_workspaces(void **s)
{
    (void)s;
    for (int bf16 = 0; bf16 <= nn_cpu_has_bf16(); bf16++) {
        nn_graph g[2];
        nn_plan *p[2];
        ws_run r;
        float *want[2];
        size_t nout[2];
        for (int k = 0; k < 2; k++) {
            memset(&g[k], 0, sizeof(g[k]));
            int x = input4(&g[k], 1, 20 + 30 * k, 24 + 30 * k, 32);
            int y = conv(&g[k], x, 0, 48, 3, 1, 1, NN_ACT_RELU6);
            y = conv(&g[k], y, 1, 0, 5, 1, 1, NN_ACT_RELU6);
            y = simple(&g[k], NN_OP_ADD, conv(&g[k], y, 0, 32, 1, 1, 1, NN_ACT_NONE), x, NN_ACT_NONE);
            g[k].out[g[k].nout++] = y;
            nout[k] = (size_t)nn_numel(&g[k].t[y]);
            assert_int_equal(nn_plan_create(&p[k], &g[k], bf16, 1), 0);
            assert_int_equal(nn_exec_create(&r.e[k], p[k]), 0);
            r.in[k] = rand_data(nn_numel(&g[k].t[x]));
            r.out[k] = malloc(sizeof(float) * nout[k]);
            want[k] = malloc(sizeof(float) * nout[k]);
            assert_int_equal(nn_exec_run(r.e[k], (const float *const *)&r.in[k], &want[k]), 0);
        }
        for (int it = 0; it < 3; it++) /* interleaved on this thread */
            for (int k = 0; k < 2; k++) {
                assert_int_equal(nn_exec_run(r.e[k], (const float *const *)&r.in[k], &r.out[k]), 0);
                assert_memory_equal(r.out[k], want[k], sizeof(float) * nout[k]);
            }
        for (int t = 0; t < 6; t++) { /* one new thread after another */
            pthread_t th;
            memset(r.out[0], 0, sizeof(float) * nout[0]);
            memset(r.out[1], 0, sizeof(float) * nout[1]);
            assert_int_equal(pthread_create(&th, NULL, ws_thread, &r), 0);
            pthread_join(th, NULL);
            assert_int_equal(r.rc, 0);
            for (int k = 0; k < 2; k++)
                assert_memory_equal(r.out[k], want[k], sizeof(float) * nout[k]);
        }
        for (int k = 0; k < 2; k++) {
            nn_exec_free(r.e[k]);
            nn_plan_free(p[k]);
            nn_graph_free(&g[k]);
            free(r.in[k]);
            free(r.out[k]);
            free(want[k]);
        }
    }
}

/* Loading the same file with the same options shares one graph and plan
 * (tensor names are borrowed from it, so the pointers are equal); other
 * options get their own; a reference outlives the other's free. */
static void test_shared_loads(void **s)
{
    (void)s;
    char path[512];
    snprintf(path, sizeof(path), "%s/tflite/pose_detection.tflite", tc_models_dir());
    struct stat st;
    if (stat(path, &st) != 0)
        skip();
    static const char *const cut[1] = {"Identity_1"};
    km_model_opts o = {.precision = KM_PREC_FP32}, oc = {.precision = KM_PREC_FP32, .outputs = cut, .noutputs = 1};
    km_model_opts oi = {.precision = KM_PREC_FP32, .image_fp32 = 1};
    km_model *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    assert_int_equal(km_model_load(&a, path, &o), 0);
    assert_int_equal(km_model_load(&b, path, &o), 0);
    assert_int_equal(km_model_load(&c, path, &oc), 0);
    assert_int_equal(km_model_load(&d, path, &oi), 0);
    assert_ptr_equal(km_model_input(a, 0)->name, km_model_input(b, 0)->name);
    assert_ptr_not_equal(km_model_input(a, 0)->name, km_model_input(c, 0)->name);
    assert_ptr_equal(km_model_input(a, 0)->name, km_model_input(d, 0)->name); /* image_fp32: no effect in fp32 */
    km_model_free(d);
    if (nn_cpu_has_bf16()) { /* in bf16 it changes the plan */
        km_model *e = NULL, *f = NULL;
        o.precision = oi.precision = KM_PREC_BF16;
        assert_int_equal(km_model_load(&e, path, &o), 0);
        assert_int_equal(km_model_load(&f, path, &oi), 0);
        assert_ptr_not_equal(km_model_input(e, 0)->name, km_model_input(f, 0)->name);
        km_model_free(e);
        km_model_free(f);
    }
    assert_int_equal(km_model_noutputs(c), 1);
    int64_t n = 224 * 224 * 3, no = 2254 * 12;
    float *x = rand_data(n), *ya[2], *yb[2];
    for (int i = 0; i < 2; i++) {
        ya[i] = malloc(sizeof(float) * (size_t)no);
        yb[i] = malloc(sizeof(float) * (size_t)no);
    }
    const float *ins[1] = {x};
    assert_int_equal(km_model_run(a, ins, ya), 0);
    km_model_free(a); /* b keeps the shared plan alive */
    assert_int_equal(km_model_run(b, ins, yb), 0);
    assert_memory_equal(ya[0], yb[0], sizeof(float) * 2254 * 12);
    for (int i = 0; i < 2; i++) {
        free(ya[i]);
        free(yb[i]);
    }
    free(x);
    km_model_free(b);
    km_model_free(c);
}

/* bf16 (AMX / AVX512-BF16) against fp32 on a real image: the 33 BlazePose
 * landmarks (256-px crop units) move by at most 0.5 % of the crop. */
static void test_bf16_landmarks(void **s)
{
    (void)s;
    char path[512];
    snprintf(path, sizeof(path), "%s/tflite/pose_landmark_full.tflite", tc_models_dir());
    struct stat st;
    if (stat(path, &st) != 0 || !nn_cpu_has_bf16())
        skip();
    uint8_t *rgb = NULL;
    size_t len = 0;
    assert_int_equal(km_read_file("tests/data/golden/nn/input256.rgb", 1 << 20, &rgb, &len), 0);
    assert_int_equal(len, 256 * 256 * 3);
    float *x = malloc(sizeof(float) * len);
    for (size_t i = 0; i < len; i++)
        x[i] = (float)(rgb[i] / 255.0);
    free(rgb);
    km_model *m32 = NULL, *m16 = NULL;
    km_model_opts o = {.precision = KM_PREC_FP32};
    assert_int_equal(km_model_load(&m32, path, &o), 0);
    o.precision = KM_PREC_BF16;
    assert_int_equal(km_model_load(&m16, path, &o), 0);
    float *a[5], *b[5];
    for (int i = 0; i < 5; i++) {
        const km_tensor_info *t = km_model_output(m32, i);
        int64_t n = 1;
        for (int d = 0; d < t->ndim; d++)
            n *= t->shape[d];
        a[i] = malloc(sizeof(float) * (size_t)n);
        b[i] = malloc(sizeof(float) * (size_t)n);
    }
    const float *ins[1] = {x};
    assert_int_equal(km_model_run(m32, ins, a), 0);
    assert_int_equal(km_model_run(m16, ins, b), 0);
    assert_string_equal(km_model_output(m32, 0)->name, "Identity");
    double worst = 0, worst_all = 0, sum = 0;
    int nvis = 0;
    for (int k = 0; k < 33; k++) {
        double d = fmax(fabs(a[0][k * 5] - b[0][k * 5]), fabs(a[0][k * 5 + 1] - b[0][k * 5 + 1]));
        if (getenv("KM_NN_VERBOSE"))
            printf("# landmark %2d shift %.3f px visibility logit %.2f\n", k, d, a[0][k * 5 + 3]);
        worst_all = fmax(worst_all, d);
        if (a[0][k * 5 + 3] > 2.2) { /* confidently visible: sigmoid(logit) > 0.9 */
            worst = fmax(worst, d);
            sum += d;
            nvis++;
        }
    }
    printf("# bf16 vs fp32: visible (> 0.9) landmarks moved %.3f px on average, %.3f at most, of 256 (any landmark "
           "%.3f; score %.4f vs %.4f)\n", sum / nvis, worst, worst_all, a[1][0], b[1][0]);
    /* bf16 keeps 8 significant bits of the fp16 weights' 11. On this crop
     * the visible landmarks moved 0.45-0.81 px on average and 1.9-4.0 px at
     * most across equally valid variants of the arithmetic (depthwise
     * weights rounded or not, the first convolution in bf16 or fp32): the
     * worst point is one draw from a wide spread (docs/nn.md), so the
     * average is bounded at 1 % of the crop and the worst at 2 %; a wrong
     * kernel or layout moves them by tens of pixels */
    assert_true(nvis >= 10);
    assert_true(sum / nvis <= 0.01 * 256);
    assert_true(worst <= 0.02 * 256);
    assert_true(fabs(a[1][0] - b[1][0]) < 0.01);
    for (int i = 0; i < 5; i++) {
        free(a[i]);
        free(b[i]);
    }
    free(x);
    km_model_free(m32);
    km_model_free(m16);
}

int main(void)
{
    if (!nn_narrow_vectorized()) /* cover kinema's portable kernels too */
        setenv("KM_NN_PORTABLE", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convs),          cmocka_unit_test(test_depthwise),
        cmocka_unit_test(test_band_fusion),
        cmocka_unit_test(test_narrow_dense),
        cmocka_unit_test(test_dilated),
        cmocka_unit_test(test_pad_fold),       cmocka_unit_test(test_post_ops),
        cmocka_unit_test(test_pool_resize),    cmocka_unit_test(test_misc),
        cmocka_unit_test(test_model_detector), cmocka_unit_test(test_model_lite),
        cmocka_unit_test(test_model_tfjs_detector), cmocka_unit_test(test_model_lightning),
        cmocka_unit_test(test_clone_parallel), cmocka_unit_test(test_shared_loads),
        cmocka_unit_test(test_bf16_landmarks),  cmocka_unit_test(test_thread_workspaces),
        cmocka_unit_test(test_consuming_plan),  cmocka_unit_test(test_image_fp32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
