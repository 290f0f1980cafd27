/*
 * ref.c - reference kernels (see ref.h for why).
 *
 * Semantics follow TFLite/TensorFlow: NHWC tensors; SAME padding already
 * resolved into node->pad by shape inference; average pooling divides by
 * the number of in-bounds taps; bilinear resize supports half-pixel
 * centres, align-corners and the legacy mapping; DEPTH_TO_SPACE uses the
 * DCR order (channel = (by * block + bx) * C_out + c).
 */
#include "nn/ref.h"

#include <math.h>
#include <string.h>

#include "kinema/util.h"

void nn_ref_act(float *x, int64_t count, nn_act act)
{
    if (act == NN_ACT_RELU) {
        for (int64_t i = 0; i < count; i++)
            x[i] = x[i] > 0.0f ? x[i] : 0.0f;
    } else if (act == NN_ACT_RELU6) {
        for (int64_t i = 0; i < count; i++)
            x[i] = x[i] < 0.0f ? 0.0f : x[i] > 6.0f ? 6.0f : x[i];
    }
}

typedef struct geom4 {
    int64_t n, h, w, c;
} geom4;

static geom4 g4(const nn_tensor *t)
{
    geom4 g = {t->shape[0], t->shape[1], t->shape[2], t->shape[3]};
    return g;
}

static void conv_ref(const nn_node *nd, geom4 xs, const float *x, const float *w, const float *b, geom4 ys, float *y,
                     int depthwise)
{
    int kh = nd->kernel[0], kw = nd->kernel[1];
    for (int64_t n = 0; n < ys.n; n++)
        for (int64_t oy = 0; oy < ys.h; oy++)
            for (int64_t ox = 0; ox < ys.w; ox++)
                for (int64_t oc = 0; oc < ys.c; oc++) {
                    double acc = b ? b[oc] : 0.0;
                    for (int ky = 0; ky < kh; ky++) {
                        int64_t iy = oy * nd->stride[0] - nd->pad[0] + (int64_t)ky * nd->dil[0];
                        if (iy < 0 || iy >= xs.h)
                            continue;
                        for (int kx = 0; kx < kw; kx++) {
                            int64_t ix = ox * nd->stride[1] - nd->pad[1] + (int64_t)kx * nd->dil[1];
                            if (ix < 0 || ix >= xs.w)
                                continue;
                            const float *xp = x + ((n * xs.h + iy) * xs.w + ix) * xs.c;
                            if (depthwise) {
                                acc += (double)xp[oc] * w[((int64_t)ky * kw + kx) * ys.c + oc];
                            } else {
                                const float *wp = w + ((oc * kh + ky) * kw + kx) * xs.c;
                                for (int64_t ic = 0; ic < xs.c; ic++)
                                    acc += (double)xp[ic] * wp[ic];
                            }
                        }
                    }
                    y[((n * ys.h + oy) * ys.w + ox) * ys.c + oc] = (float)acc;
                }
}

static void pool_ref(const nn_node *nd, geom4 xs, const float *x, geom4 ys, float *y)
{
    int is_max = nd->op == NN_OP_MAXPOOL;
    for (int64_t n = 0; n < ys.n; n++)
        for (int64_t oy = 0; oy < ys.h; oy++)
            for (int64_t ox = 0; ox < ys.w; ox++)
                for (int64_t c = 0; c < ys.c; c++) {
                    double acc = is_max ? -INFINITY : 0.0;
                    int cnt = 0;
                    for (int ky = 0; ky < nd->kernel[0]; ky++) {
                        int64_t iy = oy * nd->stride[0] - nd->pad[0] + ky;
                        if (iy < 0 || iy >= xs.h)
                            continue;
                        for (int kx = 0; kx < nd->kernel[1]; kx++) {
                            int64_t ix = ox * nd->stride[1] - nd->pad[1] + kx;
                            if (ix < 0 || ix >= xs.w)
                                continue;
                            double v = x[((n * xs.h + iy) * xs.w + ix) * xs.c + c];
                            acc = is_max ? (v > acc ? v : acc) : acc + v;
                            cnt++;
                        }
                    }
                    if (!is_max)
                        acc = cnt ? acc / cnt : 0.0;
                    y[((n * ys.h + oy) * ys.w + ox) * ys.c + c] = (float)acc;
                }
}

/* Strides of `t` aligned right to rank `nd`, 0 on broadcast dimensions. */
static void bcast_strides(const nn_tensor *t, int nd, const int64_t *oshape, int64_t *st)
{
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        int k = i - (nd - t->ndim);
        int64_t d = k >= 0 ? t->shape[k] : 1;
        st[i] = (d == 1 && oshape[i] != 1) ? 0 : s;
        s *= d;
    }
}

/* Elements of `t` when it is a trailing block of `y` (numpy broadcast of a
 * scalar, per-channel vector or same-shape operand), else 0. */
static int64_t trailing_block(const nn_tensor *t, const nn_tensor *y)
{
    int64_t n = 1;
    int k = t->ndim - 1, j = y->ndim - 1, started = 0;
    for (; k >= 0; k--, j--) {
        if (t->shape[k] == 1 && (started || j < 0 || y->shape[j] != 1)) {
            started = 1;
            continue;
        }
        if (started || j < 0 || t->shape[k] != y->shape[j])
            return 0;
        n *= t->shape[k];
    }
    return n;
}

/* Fast path: each operand is the output shape or a trailing block. A
 * short repeating block (a scalar, or an RGB mean) is first unrolled into
 * `rep` so the inner loops stay long. */
static int binary_fast(const nn_graph *g, const nn_node *nd, const float *a, const float *b, float *y)
{
    const nn_tensor *yt = &g->t[nd->out];
    int64_t total = nn_numel(yt);
    int64_t na = trailing_block(&g->t[nd->in[0]], yt), nb = trailing_block(&g->t[nd->in[1]], yt);
    if (!na || !nb || total % na || total % nb)
        return 0;
    float rep[1024];
    if ((na == total) != (nb == total) && (na < 64 || nb < 64)) {
        const float *small = na == total ? b : a;
        int64_t blk = na == total ? nb : na, m = 1024 / blk * blk;
        for (int64_t j = 0; j < m; j++)
            rep[j] = small[j % blk];
        if (na == total) {
            b = rep;
            nb = m;
        } else {
            a = rep;
            na = m;
        }
    }
    int64_t blk = na < nb ? na : nb; /* the smaller operand repeats every blk */
    for (int64_t o = 0; o < total; o += blk) {
        const float *pa = a + (na >= total ? o : 0), *pb = b + (nb >= total ? o : 0);
        float *py = y + o;
        int64_t len = total - o < blk ? total - o : blk;
        if (na < total && nb < total) { /* both repeat: index each modulo */
            for (int64_t j = 0; j < len; j++) {
                float va = a[(o + j) % na], vb = b[(o + j) % nb];
                py[j] = nd->op == NN_OP_ADD ? va + vb : nd->op == NN_OP_SUB ? va - vb : va * vb;
            }
        } else if (nd->op == NN_OP_ADD) {
            for (int64_t j = 0; j < len; j++)
                py[j] = pa[j] + pb[j];
        } else if (nd->op == NN_OP_SUB) {
            for (int64_t j = 0; j < len; j++)
                py[j] = pa[j] - pb[j];
        } else {
            for (int64_t j = 0; j < len; j++)
                py[j] = pa[j] * pb[j];
        }
    }
    nn_ref_act(y, total, nd->act);
    return 1;
}

static void binary_ref(const nn_graph *g, const nn_node *nd, const float *a, const float *b, float *y)
{
    const nn_tensor *yt = &g->t[nd->out];
    if (binary_fast(g, nd, a, b, y))
        return;
    int r = yt->ndim;
    int64_t sa[NN_MAXDIM], sb[NN_MAXDIM], idx[NN_MAXDIM] = {0};
    bcast_strides(&g->t[nd->in[0]], r, yt->shape, sa);
    bcast_strides(&g->t[nd->in[1]], r, yt->shape, sb);
    int64_t total = nn_numel(yt);
    for (int64_t i = 0; i < total; i++) {
        int64_t oa = 0, ob = 0;
        for (int k = 0; k < r; k++) {
            oa += idx[k] * sa[k];
            ob += idx[k] * sb[k];
        }
        float va = a[oa], vb = b[ob];
        y[i] = nd->op == NN_OP_ADD ? va + vb : nd->op == NN_OP_SUB ? va - vb : va * vb;
        for (int k = r - 1; k >= 0; k--) {
            if (++idx[k] < yt->shape[k])
                break;
            idx[k] = 0;
        }
    }
    nn_ref_act(y, total, nd->act);
}

void nn_pad_copy(const nn_graph *g, const nn_node *nd, const void *x, void *y, size_t es)
{
    const nn_tensor *xt = &g->t[nd->in[0]], *yt = &g->t[nd->out];
    int r = xt->ndim;
    if (r == 0) {
        memcpy(y, x, es);
        return;
    }
    /* one innermost row at a time: zeros, the input row, zeros */
    size_t ylen = (size_t)yt->shape[r - 1], xlen = (size_t)xt->shape[r - 1], lo = (size_t)nd->pads[r - 1][0];
    int64_t rows = ylen ? nn_numel(yt) / (int64_t)ylen : 0, idx[NN_MAXDIM] = {0};
    for (int64_t row = 0; row < rows; row++) {
        char *yr = (char *)y + (size_t)row * ylen * es;
        int64_t off = 0;
        int inside = 1;
        for (int k = 0; k < r - 1; k++) {
            int64_t ik = idx[k] - nd->pads[k][0];
            if (ik < 0 || ik >= xt->shape[k])
                inside = 0;
            off = off * xt->shape[k] + ik;
        }
        if (!inside || !xlen) {
            memset(yr, 0, ylen * es);
        } else {
            memset(yr, 0, lo * es);
            memcpy(yr + lo * es, (const char *)x + (size_t)off * xlen * es, xlen * es);
            memset(yr + (lo + xlen) * es, 0, (ylen - lo - xlen) * es);
        }
        for (int k = r - 2; k >= 0; k--) {
            if (++idx[k] < yt->shape[k])
                break;
            idx[k] = 0;
        }
    }
}

/* Source coordinate of output index o along an axis. */
static double resize_src(const nn_node *nd, int64_t o, int64_t in, int64_t out)
{
    if (nd->align_corners && out > 1)
        return (double)o * (double)(in - 1) / (double)(out - 1);
    double scale = (double)in / (double)out;
    if (nd->half_pixel)
        return ((double)o + 0.5) * scale - 0.5;
    return (double)o * scale;
}

static void resize_ref(const nn_node *nd, geom4 xs, const float *x, geom4 ys, float *y)
{
    for (int64_t oy = 0; oy < ys.h; oy++) {
        double sy = resize_src(nd, oy, xs.h, ys.h);
        int64_t y0 = (int64_t)floor(sy), y1 = y0 + 1;
        double fy = sy - (double)y0;
        y0 = y0 < 0 ? 0 : y0 > xs.h - 1 ? xs.h - 1 : y0;
        y1 = y1 < 0 ? 0 : y1 > xs.h - 1 ? xs.h - 1 : y1;
        for (int64_t ox = 0; ox < ys.w; ox++) {
            double sx = resize_src(nd, ox, xs.w, ys.w);
            int64_t x0 = (int64_t)floor(sx), x1 = x0 + 1;
            double fx = sx - (double)x0;
            x0 = x0 < 0 ? 0 : x0 > xs.w - 1 ? xs.w - 1 : x0;
            x1 = x1 < 0 ? 0 : x1 > xs.w - 1 ? xs.w - 1 : x1;
            for (int64_t n = 0; n < ys.n; n++)
                for (int64_t c = 0; c < ys.c; c++) {
#define AT(yy, xx) ((double)x[((n * xs.h + (yy)) * xs.w + (xx)) * xs.c + c])
                    double top = AT(y0, x0) + (AT(y0, x1) - AT(y0, x0)) * fx;
                    double bot = AT(y1, x0) + (AT(y1, x1) - AT(y1, x0)) * fx;
#undef AT
                    y[((n * ys.h + oy) * ys.w + ox) * ys.c + c] = (float)(top + (bot - top) * fy);
                }
        }
    }
}

void nn_d2s_copy(const nn_graph *g, const nn_node *nd, const void *x, void *y, size_t es)
{
    geom4 xs = g4(&g->t[nd->in[0]]), ys = g4(&g->t[nd->out]);
    int64_t b = nd->block;
    size_t run = (size_t)ys.c * es; /* DCR: an output pixel's channels are one input run */
    for (int64_t n = 0; n < ys.n; n++)
        for (int64_t oy = 0; oy < ys.h; oy++)
            for (int64_t ox = 0; ox < ys.w; ox++) {
                int64_t iy = oy / b, ix = ox / b, ic = ((oy % b) * b + (ox % b)) * ys.c;
                memcpy((char *)y + (size_t)((n * ys.h + oy) * ys.w + ox) * run,
                       (const char *)x + (size_t)(((n * xs.h + iy) * xs.w + ix) * xs.c + ic) * es, run);
            }
}

static void concat_ref(const nn_graph *g, const nn_node *nd, const float *const *in, float *y)
{
    const nn_tensor *yt = &g->t[nd->out];
    int64_t outer = 1, inner = 1;
    for (int k = 0; k < nd->axis; k++)
        outer *= yt->shape[k];
    for (int k = nd->axis + 1; k < yt->ndim; k++)
        inner *= yt->shape[k];
    int64_t ystride = yt->shape[nd->axis] * inner, off = 0;
    for (int i = 0; i < nd->nin; i++) {
        int64_t len = g->t[nd->in[i]].shape[nd->axis] * inner;
        for (int64_t o = 0; o < outer; o++)
            memcpy(y + o * ystride + off, in[i] + o * len, (size_t)len * sizeof(float));
        off += len;
    }
}

int nn_ref_node(const nn_graph *g, const nn_node *n, const float *const *in, float *out)
{
    const nn_tensor *xt = &g->t[n->in[0]], *yt = &g->t[n->out];
    int64_t count = nn_numel(yt);
    switch (n->op) {
    case NN_OP_CONV2D:
    case NN_OP_DWCONV2D:
        conv_ref(n, g4(xt), in[0], in[1], n->nin > 2 ? in[2] : NULL, g4(yt), out, n->op == NN_OP_DWCONV2D);
        nn_ref_act(out, count, n->act);
        return 0;
    case NN_OP_MAXPOOL:
    case NN_OP_AVGPOOL:
        pool_ref(n, g4(xt), in[0], g4(yt), out);
        nn_ref_act(out, count, n->act);
        return 0;
    case NN_OP_ADD:
    case NN_OP_SUB:
    case NN_OP_MUL:
        binary_ref(g, n, in[0], in[1], out);
        return 0;
    case NN_OP_PAD:
        nn_pad_copy(g, n, in[0], out, sizeof(float));
        return 0;
    case NN_OP_RESHAPE:
        if (out != in[0])
            memmove(out, in[0], (size_t)count * sizeof(float));
        return 0;
    case NN_OP_RESIZE_BILINEAR:
        resize_ref(n, g4(xt), in[0], g4(yt), out);
        return 0;
    case NN_OP_SIGMOID:
        for (int64_t i = 0; i < count; i++)
            out[i] = 1.0f / (1.0f + expf(-in[0][i]));
        return 0;
    case NN_OP_ACT:
        if (out != in[0])
            memmove(out, in[0], (size_t)count * sizeof(float));
        nn_ref_act(out, count, n->act);
        return 0;
    case NN_OP_DEPTH_TO_SPACE:
        nn_d2s_copy(g, n, in[0], out, sizeof(float));
        return 0;
    case NN_OP_CONCAT:
        concat_ref(g, n, in, out);
        return 0;
    default:
        return km_seterr(KM_EUNSUPPORTED, "no reference kernel for %s (node %s)", nn_op_name(n->op), n->name);
    }
}
