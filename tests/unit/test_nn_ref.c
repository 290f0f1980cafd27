/*
 * test_nn_ref.c - every reference kernel against a naive, independently
 * written computation on small random tensors.
 *
 * Why: the reference kernels are the definition the oneDNN path is tested
 * against, so they are themselves checked here with differently structured
 * code (explicitly padded buffers, scatter instead of gather, per-axis
 * index arithmetic), over random shapes, strides, dilations and paddings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/util.h"
#include "test_common.h"
#include "nn/bf16.h"
#include "nn/graph.h"
#include "nn/ref.h"

#define NN_TEST_SEED 12345
#define NN_TEST_RANGE 2
#include "test_nn_common.h"

/* Run the single node of g through the reference kernel. */
static float *run_ref(nn_graph *g, const float *const *acts)
{
    nn_node *n = &g->n[g->nn - 1];
    const float *in[NN_MAXIN];
    for (int k = 0; k < n->nin; k++)
        in[k] = g->t[n->in[k]].data ? g->t[n->in[k]].data : acts[k];
    float *out = malloc(sizeof(float) * (size_t)(nn_numel(&g->t[n->out]) + 1));
    assert_non_null(out);
    assert_int_equal(nn_ref_node(g, n, in, out), 0);
    return out;
}

static void expect_close(const float *a, const double *b, int64_t n, double tol)
{
    for (int64_t i = 0; i < n; i++)
        if (fabs(a[i] - b[i]) > tol * (1 + fabs(b[i])))
            fail_msg("element %lld: %.7g vs %.7g", (long long)i, a[i], b[i]);
}

static double act(double v, nn_act a)
{
    if (a == NN_ACT_RELU)
        return v > 0 ? v : 0;
    if (a == NN_ACT_RELU6)
        return v < 0 ? 0 : v > 6 ? 6 : v;
    return v;
}

/* Copy x [N,H,W,C] into a zero (or `fill`) padded buffer. */
static double *padded(const float *x, int64_t N, int64_t H, int64_t W, int64_t C, const int *p, double fill,
                      int64_t *PH, int64_t *PW)
{
    *PH = H + p[0] + p[2];
    *PW = W + p[1] + p[3];
    double *b = malloc(sizeof(double) * (size_t)(N * *PH * *PW * C));
    assert_non_null(b);
    for (int64_t i = 0; i < N * *PH * *PW * C; i++)
        b[i] = fill;
    for (int64_t n = 0; n < N; n++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t xx = 0; xx < W; xx++)
                for (int64_t c = 0; c < C; c++)
                    b[((n * *PH + y + p[0]) * *PW + xx + p[1]) * C + c] = x[((n * H + y) * W + xx) * C + c];
    return b;
}

static void one_conv(int depthwise)
{
    nn_graph g;
    memset(&g, 0, sizeof(g));
    int64_t N = irand(1, 2), H = irand(1, 9), W = irand(1, 9), C = irand(1, 6);
    int k = irand(1, 5), kw = irand(1, 4), O = depthwise ? (int)C : irand(1, 7);
    int64_t xs[4] = {N, H, W, C}, ws[4] = {depthwise ? 1 : O, k, kw, depthwise ? C : C}, bs[1] = {O};
    nn_node n;
    memset(&n, 0, sizeof(n));
    n.op = depthwise ? NN_OP_DWCONV2D : NN_OP_CONV2D;
    n.nin = 3;
    n.in[0] = act_t(&g, 4, xs);
    n.in[1] = const_t(&g, 4, ws);
    n.in[2] = const_t(&g, 1, bs);
    n.stride[0] = irand(1, 3), n.stride[1] = irand(1, 3);
    n.dil[0] = irand(1, 2), n.dil[1] = irand(1, 2);
    n.same = irand(0, 1);
    if (!n.same) {
        for (int i = 0; i < 4; i++)
            n.pad[i] = irand(0, 2);
        if (H + n.pad[0] + n.pad[2] < (k - 1) * n.dil[0] + 1)
            n.pad[2] += (int)((k - 1) * n.dil[0] + 1 - H);
        if (W + n.pad[1] + n.pad[3] < (kw - 1) * n.dil[1] + 1)
            n.pad[3] += (int)((kw - 1) * n.dil[1] + 1 - W);
    }
    n.act = (nn_act)irand(0, 2);
    n.out = act_t(&g, 4, xs);
    assert_int_equal(nn_graph_add_node(&g, &n, "conv"), 0);
    nn_node *nd = &g.n[0];
    float *x = rand_data(N * H * W * C);
    const float *acts[1] = {x};
    float *y = run_ref(&g, acts);
    const nn_tensor *yt = &g.t[nd->out];
    int64_t OH = yt->shape[1], OW = yt->shape[2], PH, PW;
    double *xp = padded(x, N, H, W, C, nd->pad, 0.0, &PH, &PW);
    const float *w = g.t[nd->in[1]].data, *b = g.t[nd->in[2]].data;
    double *want = calloc((size_t)(N * OH * OW * O), sizeof(double));
    for (int64_t bn = 0; bn < N; bn++)
        for (int o = 0; o < O; o++)
            for (int64_t oy = 0; oy < OH; oy++)
                for (int64_t ox = 0; ox < OW; ox++) {
                    double s = b[o];
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < kw; kx++) {
                            int64_t py = oy * nd->stride[0] + ky * nd->dil[0], px = ox * nd->stride[1] + kx * nd->dil[1];
                            assert_true(py < PH && px < PW);
                            const double *xv = xp + ((bn * PH + py) * PW + px) * C;
                            if (depthwise)
                                s += xv[o] * w[(ky * kw + kx) * C + o];
                            else
                                for (int64_t c = 0; c < C; c++)
                                    s += xv[c] * w[((o * k + ky) * kw + kx) * C + c];
                        }
                    want[((bn * OH + oy) * OW + ox) * O + o] = act(s, nd->act);
                }
    expect_close(y, want, N * OH * OW * O, 1e-5);
    free(want);
    free(xp);
    free(x);
    free(y);
    nn_graph_free(&g);
}

static void test_conv(void **s) { (void)s; for (int i = 0; i < 200; i++) one_conv(0); }
static void test_dwconv(void **s) { (void)s; for (int i = 0; i < 200; i++) one_conv(1); }

static void one_pool(int is_max)
{
    nn_graph g;
    memset(&g, 0, sizeof(g));
    int64_t N = 1, H = irand(1, 9), W = irand(1, 9), C = irand(1, 5), xs[4] = {N, H, W, C};
    nn_node n;
    memset(&n, 0, sizeof(n));
    n.op = is_max ? NN_OP_MAXPOOL : NN_OP_AVGPOOL;
    n.nin = 1;
    n.in[0] = act_t(&g, 4, xs);
    n.kernel[0] = irand(1, 3), n.kernel[1] = irand(1, 3);
    n.stride[0] = irand(1, 3), n.stride[1] = irand(1, 3);
    n.same = 1;
    n.out = act_t(&g, 4, xs);
    assert_int_equal(nn_graph_add_node(&g, &n, "pool"), 0);
    nn_node *nd = &g.n[0];
    float *x = rand_data(N * H * W * C);
    const float *acts[1] = {x};
    float *y = run_ref(&g, acts);
    const nn_tensor *yt = &g.t[nd->out];
    int64_t OH = yt->shape[1], OW = yt->shape[2], PH, PW;
    double *xp = padded(x, N, H, W, C, nd->pad, NAN, &PH, &PW);
    double *want = calloc((size_t)(OH * OW * C), sizeof(double));
    for (int64_t oy = 0; oy < OH; oy++)
        for (int64_t ox = 0; ox < OW; ox++)
            for (int64_t c = 0; c < C; c++) {
                double m = -1e300, s = 0;
                int cnt = 0;
                for (int ky = 0; ky < nd->kernel[0]; ky++)
                    for (int kx = 0; kx < nd->kernel[1]; kx++) {
                        double v = xp[((oy * nd->stride[0] + ky) * PW + ox * nd->stride[1] + kx) * C + c];
                        if (isnan(v))
                            continue; /* padding does not count */
                        m = v > m ? v : m;
                        s += v;
                        cnt++;
                    }
                want[(oy * OW + ox) * C + c] = is_max ? m : s / cnt;
            }
    expect_close(y, want, OH * OW * C, 1e-6);
    free(want);
    free(xp);
    free(x);
    free(y);
    nn_graph_free(&g);
}

static void test_pool(void **s) { (void)s; for (int i = 0; i < 200; i++) one_pool(i & 1); }

static void test_binary(void **s)
{
    (void)s;
    for (int it = 0; it < 300; it++) {
        nn_graph g;
        memset(&g, 0, sizeof(g));
        int64_t ys[4] = {irand(1, 2), irand(1, 5), irand(1, 5), irand(1, 6)}, as[4], bs[4];
        for (int i = 0; i < 4; i++) {
            as[i] = irand(0, 3) ? ys[i] : 1;
            bs[i] = irand(0, 2) ? ys[i] : 1;
        }
        int bnd = irand(1, 4); /* b may have lower rank (right-aligned) */
        nn_node n;
        memset(&n, 0, sizeof(n));
        n.op = (nn_opk)(NN_OP_ADD + irand(0, 2));
        n.act = (nn_act)irand(0, 2);
        n.nin = 2;
        n.in[0] = act_t(&g, 4, as);
        n.in[1] = irand(0, 1) ? const_t(&g, bnd, bs + 4 - bnd) : act_t(&g, bnd, bs + 4 - bnd);
        n.out = act_t(&g, 4, ys);
        assert_int_equal(nn_graph_add_node(&g, &n, "bin"), 0);
        const nn_tensor *yt = &g.t[n.out];
        float *a = rand_data(as[0] * as[1] * as[2] * as[3]), *b = rand_data(bs[0] * bs[1] * bs[2] * bs[3]);
        const float *acts[2] = {a, g.t[n.in[1]].data ? NULL : b};
        float *y = run_ref(&g, acts);
        const float *bv = g.t[n.in[1]].data ? g.t[n.in[1]].data : b;
        int64_t full[4];
        for (int i = 0; i < 4; i++)
            full[i] = i < 4 - bnd ? 1 : bs[i];
        int64_t total = yt->shape[0] * yt->shape[1] * yt->shape[2] * yt->shape[3];
        double *want = malloc(sizeof(double) * (size_t)total);
        for (int64_t i = 0; i < total; i++) {
            int64_t idx[4], r = i, ia = 0, ib = 0;
            for (int d = 3; d >= 0; d--) {
                idx[d] = r % yt->shape[d];
                r /= yt->shape[d];
            }
            for (int d = 0; d < 4; d++) {
                ia = ia * as[d] + (as[d] == 1 ? 0 : idx[d]);
                ib = ib * full[d] + (full[d] == 1 ? 0 : idx[d]);
            }
            double va = a[ia], vb = bv[ib];
            want[i] = act(n.op == NN_OP_ADD ? va + vb : n.op == NN_OP_SUB ? va - vb : va * vb, n.act);
        }
        expect_close(y, want, total, 1e-6);
        free(want);
        free(a);
        free(b);
        free(y);
        nn_graph_free(&g);
    }
}

static void test_pad_concat_d2s(void **s)
{
    (void)s;
    for (int it = 0; it < 100; it++) {
        nn_graph g;
        memset(&g, 0, sizeof(g));
        int64_t xs[4] = {irand(1, 2), irand(1, 4), irand(1, 4), irand(1, 3) * 4};
        int64_t n_in = xs[0] * xs[1] * xs[2] * xs[3];
        float *x = rand_data(n_in);
        /* PAD */
        nn_node p;
        memset(&p, 0, sizeof(p));
        p.op = NN_OP_PAD;
        p.nin = 1;
        p.in[0] = act_t(&g, 4, xs);
        for (int d = 0; d < 4; d++)
            p.pads[d][0] = irand(0, 2), p.pads[d][1] = irand(0, 2);
        p.out = act_t(&g, 4, xs);
        assert_int_equal(nn_graph_add_node(&g, &p, "pad"), 0);
        const float *acts[2] = {x, x};
        float *y = run_ref(&g, acts);
        const nn_tensor *yt = &g.t[p.out];
        int64_t total = nn_numel(yt);
        double *want = calloc((size_t)total, sizeof(double));
        for (int64_t i = 0; i < n_in; i++) { /* scatter each input element */
            int64_t idx[4], r = i, o = 0;
            for (int d = 3; d >= 0; d--) {
                idx[d] = r % xs[d];
                r /= xs[d];
            }
            for (int d = 0; d < 4; d++)
                o = o * yt->shape[d] + idx[d] + p.pads[d][0];
            want[o] = x[i];
        }
        expect_close(y, want, total, 0);
        free(want);
        free(y);
        /* DEPTH_TO_SPACE (block 2) */
        nn_node d2;
        memset(&d2, 0, sizeof(d2));
        d2.op = NN_OP_DEPTH_TO_SPACE;
        d2.nin = 1;
        d2.in[0] = p.in[0];
        d2.block = 2;
        d2.out = act_t(&g, 4, xs);
        assert_int_equal(nn_graph_add_node(&g, &d2, "d2s"), 0);
        y = run_ref(&g, acts);
        want = calloc((size_t)n_in, sizeof(double));
        int64_t oc = xs[3] / 4, OH = xs[1] * 2, OW = xs[2] * 2;
        for (int64_t i = 0; i < n_in; i++) { /* scatter: channel c = (by*2+bx)*oc + k */
            int64_t c = i % xs[3], xx = (i / xs[3]) % xs[2], yy = (i / xs[3] / xs[2]) % xs[1], b = i / xs[3] / xs[2] / xs[1];
            int64_t by = c / (2 * oc), bx = (c / oc) % 2, k = c % oc;
            want[((b * OH + yy * 2 + by) * OW + xx * 2 + bx) * oc + k] = x[i];
        }
        expect_close(y, want, n_in, 0);
        free(want);
        free(y);
        /* CONCAT of x with itself along a random axis */
        nn_node cc;
        memset(&cc, 0, sizeof(cc));
        cc.op = NN_OP_CONCAT;
        cc.nin = 2;
        cc.in[0] = cc.in[1] = p.in[0];
        cc.axis = irand(0, 3);
        cc.out = act_t(&g, 4, xs);
        assert_int_equal(nn_graph_add_node(&g, &cc, "concat"), 0);
        y = run_ref(&g, acts);
        yt = &g.t[cc.out];
        want = calloc((size_t)(2 * n_in), sizeof(double));
        for (int64_t i = 0; i < 2 * n_in; i++) {
            int64_t idx[4], r = i, o = 0;
            for (int d = 3; d >= 0; d--) {
                idx[d] = r % yt->shape[d];
                r /= yt->shape[d];
            }
            idx[cc.axis] %= xs[cc.axis];
            for (int d = 0; d < 4; d++)
                o = o * xs[d] + idx[d];
            want[i] = x[o];
        }
        expect_close(y, want, 2 * n_in, 0);
        free(want);
        free(y);
        free(x);
        nn_graph_free(&g);
    }
}

static void test_resize(void **s)
{
    (void)s;
    for (int it = 0; it < 150; it++) {
        nn_graph g;
        memset(&g, 0, sizeof(g));
        int64_t xs[4] = {1, irand(1, 6), irand(1, 6), irand(1, 3)};
        nn_node n;
        memset(&n, 0, sizeof(n));
        n.op = NN_OP_RESIZE_BILINEAR;
        n.nin = 1;
        n.in[0] = act_t(&g, 4, xs);
        n.size[0] = irand(1, 12), n.size[1] = irand(1, 12);
        int mode = it % 3; /* half-pixel, align-corners, legacy */
        n.half_pixel = mode == 0;
        n.align_corners = mode == 1;
        n.out = act_t(&g, 4, xs);
        assert_int_equal(nn_graph_add_node(&g, &n, "resize"), 0);
        float *x = rand_data(xs[1] * xs[2] * xs[3]);
        const float *acts[1] = {x};
        float *y = run_ref(&g, acts);
        int64_t OH = n.size[0], OW = n.size[1], C = xs[3];
        double *want = malloc(sizeof(double) * (size_t)(OH * OW * C));
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                double in[2];
                int64_t lo[2], hi[2], sz[2] = {xs[1], xs[2]}, o[2] = {oy, ox}, os[2] = {OH, OW};
                double l[2];
                for (int a = 0; a < 2; a++) { /* TensorFlow's interpolation weights */
                    if (mode == 1)
                        in[a] = os[a] > 1 ? (double)o[a] * (sz[a] - 1) / (os[a] - 1) : 0;
                    else if (mode == 0)
                        in[a] = ((double)o[a] + 0.5) * sz[a] / os[a] - 0.5;
                    else
                        in[a] = (double)o[a] * sz[a] / os[a];
                    double fl = floor(in[a]);
                    lo[a] = fl < 0 ? 0 : (int64_t)fl;
                    hi[a] = (int64_t)ceil(in[a]) > sz[a] - 1 ? sz[a] - 1 : (int64_t)ceil(in[a]);
                    if (hi[a] < 0)
                        hi[a] = 0;
                    l[a] = in[a] - fl;
                }
                for (int64_t c = 0; c < C; c++) {
#define X(yy, xx) ((double)x[((yy) * xs[2] + (xx)) * C + c])
                    double t = X(lo[0], lo[1]) * (1 - l[1]) + X(lo[0], hi[1]) * l[1];
                    double b = X(hi[0], lo[1]) * (1 - l[1]) + X(hi[0], hi[1]) * l[1];
#undef X
                    want[(oy * OW + ox) * C + c] = t * (1 - l[0]) + b * l[0];
                }
            }
        expect_close(y, want, OH * OW * C, 1e-5);
        free(want);
        free(x);
        free(y);
        nn_graph_free(&g);
    }
}

static void test_unary(void **s)
{
    (void)s;
    nn_graph g;
    memset(&g, 0, sizeof(g));
    int64_t xs[2] = {3, 50};
    nn_node n;
    memset(&n, 0, sizeof(n));
    n.op = NN_OP_SIGMOID;
    n.nin = 1;
    n.in[0] = act_t(&g, 2, xs);
    n.out = act_t(&g, 2, xs);
    assert_int_equal(nn_graph_add_node(&g, &n, "sig"), 0);
    float *x = rand_data(150);
    for (int i = 0; i < 150; i++)
        x[i] *= 10;
    const float *acts[1] = {x};
    float *y = run_ref(&g, acts);
    double want[150];
    for (int i = 0; i < 150; i++)
        want[i] = 1.0 / (1.0 + exp(-(double)x[i]));
    expect_close(y, want, 150, 1e-6);
    free(y);
    for (int a = 1; a <= 2; a++) {
        nn_node r;
        memset(&r, 0, sizeof(r));
        r.op = NN_OP_ACT;
        r.act = (nn_act)a;
        r.nin = 1;
        r.in[0] = n.in[0];
        r.out = act_t(&g, 2, xs);
        assert_int_equal(nn_graph_add_node(&g, &r, "act"), 0);
        y = run_ref(&g, acts);
        for (int i = 0; i < 150; i++)
            want[i] = a == 1 ? fmax(x[i], 0) : fmin(fmax(x[i], 0), 6);
        expect_close(y, want, 150, 0);
        free(y);
    }
    /* RESHAPE keeps the element order */
    nn_node rs_;
    memset(&rs_, 0, sizeof(rs_));
    rs_.op = NN_OP_RESHAPE;
    rs_.nin = 1;
    rs_.in[0] = n.in[0];
    int64_t ts[3] = {5, -1, 3};
    rs_.out = act_t(&g, 3, (int64_t[]){5, 10, 3});
    memcpy(g.t[rs_.out].shape, ts, sizeof(ts));
    assert_int_equal(nn_graph_add_node(&g, &rs_, "reshape"), 0);
    assert_int_equal(g.t[rs_.out].shape[1], 10);
    y = run_ref(&g, acts);
    for (int i = 0; i < 150; i++)
        want[i] = x[i];
    expect_close(y, want, 150, 0);
    free(y);
    free(x);
    nn_graph_free(&g);
}

static void test_half(void **s)
{
    (void)s;
    assert_true(nn_half_to_float(0x3c00) == 1.0f);
    assert_true(nn_half_to_float(0xc000) == -2.0f);
    assert_true(nn_half_to_float(0x7bff) == 65504.0f);
    assert_true(nn_half_to_float(0x0001) == ldexpf(1.0f, -24));
    assert_true(nn_half_to_float(0x3555) == 0.333251953125f);
    assert_true(isinf(nn_half_to_float(0x7c00)));
    assert_true(isnan(nn_half_to_float(0x7e00)));
    assert_true(nn_half_to_float(0x8000) == 0.0f && signbit(nn_half_to_float(0x8000)));
}

static void test_shape_errors(void **s)
{
    (void)s;
    nn_graph g;
    memset(&g, 0, sizeof(g));
    int64_t xs[4] = {1, 4, 4, 3}, ws[4] = {2, 3, 3, 5}, bs[1] = {2};
    nn_node n;
    memset(&n, 0, sizeof(n));
    n.op = NN_OP_CONV2D;
    n.nin = 3;
    n.in[0] = act_t(&g, 4, xs);
    n.in[1] = const_t(&g, 4, ws); /* 5 input channels != 3 */
    n.in[2] = const_t(&g, 1, bs);
    n.out = act_t(&g, 4, xs);
    assert_int_equal(nn_graph_add_node(&g, &n, "bad"), KM_EFORMAT);
    int64_t huge[4] = {1 << 20, 1 << 20, 1 << 20, 1};
    assert_int_equal(nn_graph_add_tensor(&g, "h", 1, 4, huge), KM_EFORMAT);
    nn_graph_free(&g);
}

/* bf16: round to nearest-even (ties to even), NaN stays NaN, the bulk
 * (vector) conversions equal the scalar ones for every tail length. */
static void test_bf16(void **s)
{
    (void)s;
    assert_int_equal(nn_f32_to_bf16(1.0f), 0x3f80);
    uint32_t tie_even = 0x3f808000u, tie_odd = 0x3f818000u, above = 0x3f808001u;
    float f;
    memcpy(&f, &tie_even, 4);
    assert_int_equal(nn_f32_to_bf16(f), 0x3f80); /* tie: stays even */
    memcpy(&f, &tie_odd, 4);
    assert_int_equal(nn_f32_to_bf16(f), 0x3f82); /* tie: up to even */
    memcpy(&f, &above, 4);
    assert_int_equal(nn_f32_to_bf16(f), 0x3f81);
    assert_true(isnan(nn_bf16_to_f32(nn_f32_to_bf16(NAN))));
    assert_true(isinf(nn_bf16_to_f32(nn_f32_to_bf16(INFINITY))));
    assert_true(nn_bf16_to_f32(nn_f32_to_bf16(-2.5f)) == -2.5f);
    assert_int_equal(nn_f32_to_bf16(1e-39f), 0x0000); /* denormals flush to signed zero */
    assert_int_equal(nn_f32_to_bf16(-1e-39f), 0x8000);
    assert_int_equal(nn_f32_to_bf16(1.2e-38f), 0x0083); /* smallest normals round */
    for (size_t n = 0; n < 70; n++) {
        float x[70], back[70];
        uint16_t y[70];
        for (size_t i = 0; i < n; i++)
            x[i] = (float)((tc_urand(&rs) - 0.5) * 1e3);
        if (n > 22)
            x[17] = NAN, x[18] = -INFINITY, x[19] = -0.0f, x[20] = 1e-39f, x[21] = -1e-39f, x[22] = 1.2e-38f;
        nn_f32_to_bf16_n(x, y, n);
        nn_bf16_to_f32_n(y, back, n);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(y[i], nn_f32_to_bf16(x[i]));
            int close = back[i] == x[i] || fabsf(back[i] - x[i]) <= fabsf(x[i]) / 256.0f || fabsf(x[i]) < 1.2e-38f;
            assert_true(isnan(x[i]) ? isnan(back[i]) : close);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv),   cmocka_unit_test(test_dwconv),         cmocka_unit_test(test_pool),
        cmocka_unit_test(test_binary), cmocka_unit_test(test_pad_concat_d2s), cmocka_unit_test(test_resize),
        cmocka_unit_test(test_unary),  cmocka_unit_test(test_half),           cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
