/*
 * graph.c - IR construction, shape inference and FLOP counting.
 *
 * Why here: the loaders call nn_graph_add_node for each node in execution
 * order, so every output shape is known (and validated) as soon as the
 * node exists; later passes (TF.js constant folding of Shape ops, the
 * planner) can rely on complete shapes.
 */
#include "nn/graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/util.h"

static const char *const OPNAMES[NN_OP_COUNT] = {
    "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "SUB", "MUL", "MAX_POOL_2D",
    "AVERAGE_POOL_2D", "PAD", "RESHAPE", "RESIZE_BILINEAR", "LOGISTIC",
    "DEPTH_TO_SPACE", "CONCATENATION", "ACTIVATION",
};

const char *nn_op_name(nn_opk op)
{
    return (unsigned)op < NN_OP_COUNT ? OPNAMES[op] : "?";
}

void nn_graph_free(nn_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->nt; i++) {
        free(g->t[i].name);
        if (!g->t[i].released)
            free(g->t[i].data);
    }
    for (int i = 0; i < g->nn; i++)
        free(g->n[i].name);
    free(g->t);
    free(g->n);
    memset(g, 0, sizeof(*g));
}

int nn_shape_numel(int ndim, const int64_t *shape, int64_t *numel)
{
    if (ndim < 0 || ndim > NN_MAXDIM)
        return km_seterr(KM_EFORMAT, "tensor rank %d out of range", ndim);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || shape[i] > NN_MAX_ELEMS)
            return km_seterr(KM_EFORMAT, "tensor dimension %lld out of range", (long long)shape[i]);
        n *= shape[i];
        if (n > NN_MAX_ELEMS)
            return km_seterr(KM_EFORMAT, "tensor too large (> %lld elements)", (long long)NN_MAX_ELEMS);
    }
    *numel = n;
    return 0;
}

int64_t nn_numel(const nn_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

static char *dupname(const char *s, size_t len)
{
    if (len > NN_MAX_NAME)
        len = NN_MAX_NAME;
    char *d = malloc(len + 1);
    if (d) {
        if (len)
            memcpy(d, s, len);
        d[len] = 0;
    }
    return d;
}

int nn_graph_add_tensor(nn_graph *g, const char *name, size_t namelen, int ndim, const int64_t *shape)
{
    int64_t numel;
    int rc = nn_shape_numel(ndim, shape, &numel);
    if (rc)
        return rc;
    if (g->nt >= NN_MAX_TENSORS)
        return km_seterr(KM_EFORMAT, "too many tensors");
    if (g->nt == g->cap_t) {
        int cap = g->cap_t ? g->cap_t * 2 : 64;
        nn_tensor *t = realloc(g->t, (size_t)cap * sizeof(*t));
        if (!t)
            return km_seterr(KM_ENOMEM, "out of memory (tensors)");
        g->t = t;
        g->cap_t = cap;
    }
    nn_tensor *t = &g->t[g->nt];
    memset(t, 0, sizeof(*t));
    t->name = dupname(name ? name : "", name ? namelen : 0);
    if (!t->name)
        return km_seterr(KM_ENOMEM, "out of memory (tensor name)");
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    return g->nt++;
}

int nn_graph_add_const(nn_graph *g, const char *name, int ndim, const int64_t *shape, float *data)
{
    int id = nn_graph_add_tensor(g, name, name ? strlen(name) : 0, ndim, shape);
    if (id < 0) {
        free(data);
        return id;
    }
    g->t[id].data = data;
    return id;
}

int nn_graph_find(const nn_graph *g, const char *name)
{
    for (int i = g->nt - 1; i >= 0; i--)
        if (strcmp(g->t[i].name, name) == 0)
            return i;
    return -1;
}

float nn_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    int exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((uint32_t)(exp - 15 + 127) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* ------------------------------------------------------ shape inference */

static int fail(const nn_node *n, const char *name, const char *why)
{
    return km_seterr(KM_EFORMAT, "node '%s' (%s): %s", name ? name : "?", nn_op_name(n->op), why);
}

/* Output size and (for SAME) padding along one spatial axis. */
static int conv_axis(int64_t in, int k, int s, int d, int same, int *pb, int *pa, int64_t *out)
{
    if (k < 1 || s < 1 || d < 1 || k > 1024 || s > 1024 || d > 1024)
        return -1;
    int64_t ek = (int64_t)(k - 1) * d + 1;
    if (same) {
        int64_t o = (in + s - 1) / s;
        int64_t total = (o - 1) * s + ek - in;
        if (total < 0)
            total = 0;
        *pb = (int)(total / 2);
        *pa = (int)(total - total / 2);
        *out = o;
    } else {
        int64_t span = in + *pb + *pa - ek;
        if (span < 0)
            return -1;
        *out = span / s + 1;
    }
    return *out >= 1 ? 0 : -1;
}

static int infer_conv_like(nn_graph *g, nn_node *n, const char *name, int64_t *os, int *ond)
{
    const nn_tensor *x = &g->t[n->in[0]];
    if (x->ndim != 4)
        return fail(n, name, "input must be 4-D NHWC");
    int64_t cout = x->shape[3];
    if (n->op == NN_OP_CONV2D || n->op == NN_OP_DWCONV2D) {
        if (n->nin < 2)
            return fail(n, name, "missing weights");
        const nn_tensor *w = &g->t[n->in[1]];
        if (!w->data || w->ndim != 4)
            return fail(n, name, "weights must be a constant 4-D tensor");
        if (n->op == NN_OP_CONV2D) {
            if (w->shape[3] != x->shape[3])
                return fail(n, name, "weights input channels differ from input");
            cout = w->shape[0];
        } else if (w->shape[0] != 1 || w->shape[3] != x->shape[3]) {
            return fail(n, name, "depthwise weights must be [1,KH,KW,C] with C = input channels");
        }
        if (w->shape[1] > 1024 || w->shape[2] > 1024)
            return fail(n, name, "kernel too large");
        n->kernel[0] = (int)w->shape[1];
        n->kernel[1] = (int)w->shape[2];
        if (n->nin >= 3 && n->in[2] >= 0) {
            const nn_tensor *b = &g->t[n->in[2]];
            if (!b->data || nn_numel(b) != cout)
                return fail(n, name, "bias must be a constant of output-channel size");
        }
    }
    int64_t oh, ow;
    if (conv_axis(x->shape[1], n->kernel[0], n->stride[0], n->dil[0], n->same, &n->pad[0], &n->pad[2], &oh) ||
        conv_axis(x->shape[2], n->kernel[1], n->stride[1], n->dil[1], n->same, &n->pad[1], &n->pad[3], &ow))
        return fail(n, name, "invalid kernel, stride, dilation or padding");
    os[0] = x->shape[0];
    os[1] = oh;
    os[2] = ow;
    os[3] = cout;
    *ond = 4;
    return 0;
}

static int infer_binary(nn_graph *g, nn_node *n, const char *name, int64_t *os, int *ond)
{
    if (n->nin != 2)
        return fail(n, name, "needs two inputs");
    const nn_tensor *a = &g->t[n->in[0]], *b = &g->t[n->in[1]];
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return fail(n, name, "operand shapes do not broadcast");
        os[i] = da == 1 ? db : da;
    }
    *ond = nd;
    return 0;
}

static int infer_reshape(nn_graph *g, nn_node *n, const char *name, int64_t *os, int *ond)
{
    /* The target shape is pre-set on the output tensor by the loader
     * (one -1 allowed). */
    const nn_tensor *x = &g->t[n->in[0]];
    nn_tensor *y = &g->t[n->out];
    int64_t known = 1, total = nn_numel(x);
    int neg = -1;
    for (int i = 0; i < y->ndim; i++) {
        if (y->shape[i] == -1 && neg < 0) {
            neg = i;
        } else if (y->shape[i] < 0) {
            return fail(n, name, "invalid target shape");
        } else {
            known *= y->shape[i];
            if (known > NN_MAX_ELEMS)
                return fail(n, name, "target shape too large");
        }
        os[i] = y->shape[i];
    }
    if (neg >= 0) {
        if (known == 0 || total % known)
            return fail(n, name, "cannot infer -1 dimension");
        os[neg] = total / known;
        known *= os[neg];
    }
    if (known != total)
        return fail(n, name, "element count changes");
    *ond = y->ndim;
    return 0;
}

static int infer_concat(nn_graph *g, nn_node *n, const char *name, int64_t *os, int *ond)
{
    const nn_tensor *a = &g->t[n->in[0]];
    int nd = a->ndim;
    if (n->axis < 0)
        n->axis += nd;
    if (n->axis < 0 || n->axis >= nd)
        return fail(n, name, "axis out of range");
    for (int i = 0; i < nd; i++)
        os[i] = a->shape[i];
    for (int k = 1; k < n->nin; k++) {
        const nn_tensor *b = &g->t[n->in[k]];
        if (b->ndim != nd)
            return fail(n, name, "inputs differ in rank");
        for (int i = 0; i < nd; i++)
            if (i != n->axis && b->shape[i] != a->shape[i])
                return fail(n, name, "inputs differ in shape");
        os[n->axis] += b->shape[n->axis];
    }
    *ond = nd;
    return 0;
}

static int infer(nn_graph *g, nn_node *n, const char *name, int64_t *os, int *ond)
{
    const nn_tensor *x = &g->t[n->in[0]];
    switch (n->op) {
    case NN_OP_CONV2D:
    case NN_OP_DWCONV2D:
    case NN_OP_MAXPOOL:
    case NN_OP_AVGPOOL:
        return infer_conv_like(g, n, name, os, ond);
    case NN_OP_ADD:
    case NN_OP_SUB:
    case NN_OP_MUL:
        return infer_binary(g, n, name, os, ond);
    case NN_OP_RESHAPE:
        return infer_reshape(g, n, name, os, ond);
    case NN_OP_CONCAT:
        return infer_concat(g, n, name, os, ond);
    case NN_OP_SIGMOID:
    case NN_OP_ACT:
        *ond = x->ndim;
        memcpy(os, x->shape, sizeof(int64_t) * (size_t)x->ndim);
        return 0;
    case NN_OP_PAD:
        *ond = x->ndim;
        for (int i = 0; i < x->ndim; i++) {
            if (n->pads[i][0] < 0 || n->pads[i][1] < 0 || n->pads[i][0] > 65536 || n->pads[i][1] > 65536)
                return fail(n, name, "invalid paddings");
            os[i] = x->shape[i] + n->pads[i][0] + n->pads[i][1];
        }
        return 0;
    case NN_OP_RESIZE_BILINEAR:
        if (x->ndim != 4 || n->size[0] < 1 || n->size[1] < 1 || n->size[0] > 65536 || n->size[1] > 65536)
            return fail(n, name, "needs 4-D input and a positive size");
        *ond = 4;
        os[0] = x->shape[0];
        os[1] = n->size[0];
        os[2] = n->size[1];
        os[3] = x->shape[3];
        return 0;
    case NN_OP_DEPTH_TO_SPACE: {
        int64_t b = n->block;
        if (x->ndim != 4 || b < 1 || b > 64 || x->shape[3] % (b * b))
            return fail(n, name, "needs 4-D input with channels divisible by block^2");
        *ond = 4;
        os[0] = x->shape[0];
        os[1] = x->shape[1] * b;
        os[2] = x->shape[2] * b;
        os[3] = x->shape[3] / (b * b);
        return 0;
    }
    default:
        return fail(n, name, "unknown op");
    }
}

int nn_graph_add_node(nn_graph *g, const nn_node *node, const char *name)
{
    nn_node n = *node;
    if (n.nin < 1 || n.nin > NN_MAXIN || n.out < 0 || n.out >= g->nt)
        return km_seterr(KM_EFORMAT, "node '%s': bad inputs/outputs", name ? name : "?");
    for (int i = 0; i < n.nin; i++)
        if (n.in[i] < -1 || n.in[i] >= g->nt || (i == 0 && n.in[i] < 0))
            return km_seterr(KM_EFORMAT, "node '%s': bad input tensor index", name ? name : "?");
    for (int i = 0; i < 2; i++) {
        if (!n.dil[i])
            n.dil[i] = 1;
        if (!n.stride[i])
            n.stride[i] = 1;
    }
    int64_t os[NN_MAXDIM] = {0};
    int ond = 0;
    int rc = infer(g, &n, name, os, &ond);
    int64_t numel;
    if (!rc)
        rc = nn_shape_numel(ond, os, &numel);
    if (rc)
        return rc;
    nn_tensor *y = &g->t[n.out];
    if (y->data)
        return km_seterr(KM_EFORMAT, "node '%s': writes a constant tensor", name ? name : "?");
    y->ndim = ond;
    memcpy(y->shape, os, sizeof(os));
    if (g->nn == g->cap_n) {
        int cap = g->cap_n ? g->cap_n * 2 : 64;
        nn_node *nn = realloc(g->n, (size_t)cap * sizeof(*nn));
        if (!nn)
            return km_seterr(KM_ENOMEM, "out of memory (nodes)");
        g->n = nn;
        g->cap_n = cap;
    }
    n.name = dupname(name ? name : "", name ? strlen(name) : 0);
    if (!n.name)
        return km_seterr(KM_ENOMEM, "out of memory (node name)");
    g->n[g->nn++] = n;
    return 0;
}

double nn_node_flops(const nn_graph *g, const nn_node *n)
{
    const nn_tensor *y = &g->t[n->out];
    double outn = (double)nn_numel(y);
    switch (n->op) {
    case NN_OP_CONV2D:
        return 2.0 * n->kernel[0] * n->kernel[1] * (double)g->t[n->in[0]].shape[3] * outn;
    case NN_OP_DWCONV2D:
        return 2.0 * n->kernel[0] * n->kernel[1] * outn;
    default:
        return 0.0;
    }
}

double nn_graph_flops(const nn_graph *g)
{
    double f = 0;
    for (int i = 0; i < g->nn; i++)
        f += nn_node_flops(g, &g->n[i]);
    return f;
}

static float g_released[1];

void nn_graph_release(nn_graph *g, int t)
{
    nn_tensor *x = &g->t[t];
    if (!x->data || x->released)
        return;
    free(x->data);
    x->data = g_released;
    x->released = 1;
}

void nn_graph_prune(nn_graph *g)
{
    if (g->nt == 0)
        return;
    char *need = calloc((size_t)g->nt, 1);
    char *keep = calloc((size_t)(g->nn ? g->nn : 1), 1);
    int *prod = malloc(sizeof(int) * (size_t)g->nt);
    if (!need || !keep || !prod)
        goto out; /* pruning is an optimisation: skip on OOM */
    for (int i = 0; i < g->nt; i++)
        prod[i] = -1;
    for (int i = 0; i < g->nn; i++)
        prod[g->n[i].out] = i;
    for (int i = 0; i < g->nout; i++)
        need[g->out[i]] = 1;
    for (int i = g->nn - 1; i >= 0; i--) {
        nn_node *n = &g->n[i];
        if (!need[n->out])
            continue;
        keep[i] = 1;
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0)
                need[n->in[k]] = 1;
    }
    int w = 0;
    for (int i = 0; i < g->nn; i++) {
        if (keep[i])
            g->n[w++] = g->n[i];
        else
            free(g->n[i].name);
    }
    g->nn = w;
    for (int i = 0; i < g->nt; i++) {
        if (!need[i] && g->t[i].data && !g->t[i].released) {
            free(g->t[i].data);
            g->t[i].data = NULL;
        }
    }
out:
    free(need);
    free(keep);
    free(prod);
}
