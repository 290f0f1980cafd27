/*
 * tfjs.c - TF.js graph-model loader (model.json + .bin weight shards).
 *
 * Why: MoveNet ships only as a TF.js graph model, and the BlazePose TF.js
 * twins are useful cross-checks. The TensorFlow graph is walked
 * depth-first from the requested outputs (so ops after a cut point are
 * never looked at), lowered node by node to the IR in topological order.
 * Integer side computations (Shape, StridedSlice, Pack, ConcatV2 of shape
 * vectors) are folded at load time because all shapes are static here;
 * weights are decoded to fp32 (float16 and affine uint8/uint16 quantized
 * weights included); filters are transposed to the IR's canonical layouts.
 *
 * Ownership: the JSON document and weight bytes are freed before return;
 * the graph owns everything it keeps.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/util.h"
#include "nn/loaders.h"

#define MAX_JSON ((size_t)64 << 20)
#define MAX_WEIGHTS ((size_t)1 << 30)
#define MAX_NODES 100000
#define MAX_INTS 4096

enum { V_NONE = 0, V_TENSOR, V_INT };

typedef struct jval {
    int kind;
    int id;                     /* V_TENSOR: IR tensor id */
    int ndim;                   /* V_INT */
    int64_t shape[NN_MAXDIM];
    int64_t *iv;                /* V_INT: owned */
    int64_t n;
} jval;

typedef struct wspec {
    const char *name;
    int64_t shape[NN_MAXDIM];
    int ndim;
    int dtype;                  /* 0 float32, 1 int32 */
    int qtype;                  /* 0 none, 1 float16, 2 uint8, 3 uint16 */
    double qscale, qmin;
    size_t off, size;
} wspec;

typedef struct tj {
    nn_graph *g;
    json_t *root;
    json_t *nodes;
    size_t nnodes;
    int *order;                 /* node indices sorted by name */
    jval *vals;
    char *state;                /* DFS: 0 new, 1 open, 2 done */
    int *uses;                  /* per node: how many input references name it */
    wspec *w;
    size_t nw;
    uint8_t *wdata;
    size_t wlen;
    const int64_t *in_shape;    /* override of dynamic input dimensions */
    int in_ndim;
} tj;

/* ------------------------------------------------------------- helpers */

static const char *node_name(const tj *t, size_t i)
{
    const char *s = json_string_value(json_object_get(json_array_get(t->nodes, i), "name"));
    return s ? s : "";
}

static const char *node_op(const tj *t, size_t i)
{
    const char *s = json_string_value(json_object_get(json_array_get(t->nodes, i), "op"));
    return s ? s : "";
}

typedef struct named {
    const char *name;
    int idx;
} named;

static int cmp_named(const void *a, const void *b)
{
    return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

/* t->order = node indices sorted by name (for find_node). */
static int sort_nodes(tj *t)
{
    named *v = malloc(sizeof(named) * (t->nnodes + 1));
    if (!v)
        return km_seterr(KM_ENOMEM, "out of memory");
    for (size_t i = 0; i < t->nnodes; i++) {
        v[i].name = node_name(t, i);
        v[i].idx = (int)i;
    }
    qsort(v, t->nnodes, sizeof(named), cmp_named);
    for (size_t i = 0; i < t->nnodes; i++)
        t->order[i] = v[i].idx;
    free(v);
    return 0;
}

/* Node index by name (the part before ':'), or -1. */
static int find_node(const tj *t, const char *ref, size_t len)
{
    size_t lo = 0, hi = t->nnodes;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *nm = node_name(t, (size_t)t->order[mid]);
        int c = strncmp(nm, ref, len);
        if (c == 0 && nm[len] != 0)
            c = 1;
        if (c == 0)
            return t->order[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Parse an input reference "name[:k]"; control inputs ("^x") give -2. */
static int parse_ref(const tj *t, const char *ref, int *node, int *port)
{
    if (ref[0] == '^')
        return *node = -2, 0;
    const char *colon = strrchr(ref, ':');
    size_t len = colon ? (size_t)(colon - ref) : strlen(ref);
    *port = colon ? atoi(colon + 1) : 0;
    *node = find_node(t, ref, len);
    if (*node < 0)
        return km_seterr(KM_EFORMAT, "tfjs: input '%s' names no node", ref);
    return 0;
}

static json_t *attr(const tj *t, size_t i, const char *key)
{
    return json_object_get(json_object_get(json_array_get(t->nodes, i), "attr"), key);
}

static int64_t jint(json_t *v, int64_t def)
{
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return def;
}

static int64_t attr_i(const tj *t, size_t i, const char *key, int64_t def)
{
    return jint(json_object_get(attr(t, i, key), "i"), def);
}

static int attr_b(const tj *t, size_t i, const char *key)
{
    return json_is_true(json_object_get(attr(t, i, key), "b"));
}

static int attr_list_i(const tj *t, size_t i, const char *key, int64_t *out, int max)
{
    json_t *l = json_object_get(json_object_get(attr(t, i, key), "list"), "i");
    int n = (int)json_array_size(l);
    if (n > max)
        return -1;
    for (int k = 0; k < n; k++)
        out[k] = jint(json_array_get(l, (size_t)k), 0);
    return n;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Decode base64 `s` into out (NUL-terminated, truncated to cap-1). */
static void b64dec(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; s && *s && o + 1 < cap; s++) {
        int v = b64val((unsigned char)*s);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = 0;
}

static void attr_s(const tj *t, size_t i, const char *key, char *out, size_t cap)
{
    b64dec(json_string_value(json_object_get(attr(t, i, key), "s")), out, cap);
}

/* ------------------------------------------------------------- weights */

static int dtype_of(const char *s, int *dt)
{
    if (s && strcmp(s, "float32") == 0)
        *dt = 0;
    else if (s && strcmp(s, "int32") == 0)
        *dt = 1;
    else
        return km_seterr(KM_EUNSUPPORTED, "tfjs: weight dtype '%s'", s ? s : "?");
    return 0;
}

static int parse_wspec(json_t *w, size_t *off, size_t total, wspec *ws)
{
    ws->name = json_string_value(json_object_get(w, "name"));
    json_t *shape = json_object_get(w, "shape");
    if (!ws->name || !json_is_array(shape) || json_array_size(shape) > NN_MAXDIM)
        return km_seterr(KM_EFORMAT, "tfjs: weight entry without name or with a bad shape");
    ws->ndim = (int)json_array_size(shape);
    for (int k = 0; k < ws->ndim; k++)
        ws->shape[k] = jint(json_array_get(shape, (size_t)k), -1);
    int64_t numel;
    CK(nn_shape_numel(ws->ndim, ws->shape, &numel));
    CK(dtype_of(json_string_value(json_object_get(w, "dtype")), &ws->dtype));
    size_t es = 4;
    json_t *q = json_object_get(w, "quantization");
    if (q) {
        const char *qd = json_string_value(json_object_get(q, "dtype"));
        ws->qtype = qd && !strcmp(qd, "float16") ? 1 : qd && !strcmp(qd, "uint8") ? 2 : qd && !strcmp(qd, "uint16") ? 3 : 0;
        if (!ws->qtype)
            return km_seterr(KM_EUNSUPPORTED, "tfjs: weight %s quantized as '%s'", ws->name, qd ? qd : "?");
        es = ws->qtype == 2 ? 1 : 2;
        ws->qscale = json_number_value(json_object_get(q, "scale"));
        ws->qmin = json_number_value(json_object_get(q, "min"));
    }
    ws->off = *off;
    ws->size = (size_t)numel * es;
    if (ws->size > total - *off)
        return km_seterr(KM_EFORMAT, "tfjs: weight %s extends past the weight data", ws->name);
    *off += ws->size;
    return 0;
}

static int load_weights(tj *t, const char *dir)
{
    json_t *man = json_object_get(t->root, "weightsManifest");
    size_t i, k;
    json_t *grp, *p;
    if (!json_is_array(man))
        return km_seterr(KM_EFORMAT, "tfjs: no weightsManifest");
    json_array_foreach(man, i, grp) {
        json_array_foreach(json_object_get(grp, "paths"), k, p) {
            char path[4096];
            const char *rel = json_string_value(p);
            if (!rel)
                return km_seterr(KM_EFORMAT, "tfjs: weight path is not a string");
            CK(km_path_join(path, sizeof(path), dir, rel));
            uint8_t *d;
            size_t len;
            CK(km_read_file(path, MAX_WEIGHTS - t->wlen, &d, &len));
            uint8_t *nd = realloc(t->wdata, t->wlen + len + 1);
            if (!nd) {
                free(d);
                return km_seterr(KM_ENOMEM, "out of memory (weights)");
            }
            memcpy(nd + t->wlen, d, len);
            free(d);
            t->wdata = nd;
            t->wlen += len;
        }
        t->nw += json_array_size(json_object_get(grp, "weights"));
    }
    if (t->nw > MAX_NODES)
        return km_seterr(KM_EFORMAT, "tfjs: too many weights");
    t->w = calloc(t->nw ? t->nw : 1, sizeof(wspec));
    if (!t->w)
        return km_seterr(KM_ENOMEM, "out of memory");
    size_t off = 0, n = 0;
    json_array_foreach(man, i, grp) {
        json_t *w;
        json_array_foreach(json_object_get(grp, "weights"), k, w)
            CK(parse_wspec(w, &off, t->wlen, &t->w[n++]));
    }
    return 0;
}

static const wspec *find_weight(const tj *t, const char *name)
{
    for (size_t i = 0; i < t->nw; i++)
        if (strcmp(t->w[i].name, name) == 0)
            return &t->w[i];
    return NULL;
}

static float w_float(const tj *t, const wspec *w, int64_t i)
{
    const uint8_t *p = t->wdata + w->off;
    switch (w->qtype) {
    case 1: return nn_half_to_float((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
    case 2: return (float)(w->qmin + w->qscale * p[i]);
    case 3: return (float)(w->qmin + w->qscale * (p[2 * i] | (p[2 * i + 1] << 8)));
    default: {
        float f;
        memcpy(&f, p + 4 * i, 4);
        return w->dtype == 1 ? (float)(int32_t)(p[4 * i] | p[4 * i + 1] << 8 | p[4 * i + 2] << 16 |
                                                 (uint32_t)p[4 * i + 3] << 24)
                             : f;
    }
    }
}

static int lower_const(tj *t, size_t i)
{
    const wspec *w = find_weight(t, node_name(t, i));
    if (!w)
        return km_seterr(KM_EFORMAT, "tfjs: constant %s has no weight data", node_name(t, i));
    jval *v = &t->vals[i];
    int64_t numel;
    CK(nn_shape_numel(w->ndim, w->shape, &numel));
    if (w->dtype == 1 && !w->qtype) {
        if (numel > MAX_INTS)
            return km_seterr(KM_EUNSUPPORTED, "tfjs: int32 constant %s too large", w->name);
        v->kind = V_INT;
        v->iv = malloc(sizeof(int64_t) * (size_t)(numel ? numel : 1));
        if (!v->iv)
            return km_seterr(KM_ENOMEM, "out of memory");
        v->n = numel;
        v->ndim = w->ndim;
        memcpy(v->shape, w->shape, sizeof(v->shape));
        for (int64_t k = 0; k < numel; k++)
            v->iv[k] = (int64_t)w_float(t, w, k);
        return 0;
    }
    float *d = malloc(sizeof(float) * (size_t)(numel ? numel : 1));
    if (!d)
        return km_seterr(KM_ENOMEM, "out of memory (weight %s)", w->name);
    for (int64_t k = 0; k < numel; k++)
        d[k] = w_float(t, w, k);
    int id = nn_graph_add_const(t->g, w->name, w->ndim, w->shape, d);
    if (id < 0)
        return id;
    v->kind = V_TENSOR;
    v->id = id;
    return 0;
}

/* ------------------------------------------------------------ lowering */

typedef struct nctx {
    tj *t;
    size_t i;
    const char *name;
    const char *op;
    int nin;
    jval *in[NN_MAXIN + 2];
} nctx;

static int unsupported(const nctx *c, const char *why)
{
    return km_seterr(KM_EUNSUPPORTED, "tfjs: unsupported op %s at node '%s'%s%s", c->op, c->name, why ? ": " : "",
                     why ? why : "");
}

static int need_tensor(const nctx *c, int k)
{
    if (k >= c->nin || c->in[k]->kind != V_TENSOR)
        return unsupported(c, "expects a float tensor input");
    return 0;
}

static int need_int(const nctx *c, int k)
{
    if (k >= c->nin || c->in[k]->kind != V_INT)
        return unsupported(c, "expects a constant integer input");
    return 0;
}

static const nn_tensor *tin(const nctx *c, int k)
{
    return &c->t->g->t[c->in[k]->id];
}

/* Create the output tensor, add the node, record the value. */
static int emit(nctx *c, nn_node *n, int ndim, const int64_t *shape)
{
    int64_t zero[NN_MAXDIM] = {0};
    if (ndim < 0 || ndim > NN_MAXDIM)
        return unsupported(c, "rank");
    int id = nn_graph_add_tensor(c->t->g, c->name, strlen(c->name), ndim, zero);
    if (id < 0)
        return id;
    for (int k = 0; shape && k < ndim; k++) /* reshape target, -1 allowed */
        c->t->g->t[id].shape[k] = shape[k];
    n->out = id;
    CK(nn_graph_add_node(c->t->g, n, c->name));
    c->t->vals[c->i].kind = V_TENSOR;
    c->t->vals[c->i].id = id;
    return 0;
}

static int set_int(nctx *c, int ndim, const int64_t *shape, const int64_t *vals, int64_t n)
{
    jval *v = &c->t->vals[c->i];
    if (n > MAX_INTS || ndim > NN_MAXDIM)
        return unsupported(c, "integer result too large");
    v->iv = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!v->iv)
        return km_seterr(KM_ENOMEM, "out of memory");
    if (n)
        memcpy(v->iv, vals, sizeof(int64_t) * (size_t)n);
    v->kind = V_INT;
    v->n = n;
    v->ndim = ndim;
    for (int k = 0; k < ndim; k++)
        v->shape[k] = shape[k];
    return 0;
}

static int padding_attr(nctx *c, nn_node *n)
{
    char pad[32];
    attr_s(c->t, c->i, "padding", pad, sizeof(pad));
    if (!strcmp(pad, "SAME")) {
        n->same = 1;
    } else if (!strcmp(pad, "EXPLICIT")) {
        int64_t e[8];
        if (attr_list_i(c->t, c->i, "explicit_paddings", e, 8) != 8)
            return unsupported(c, "bad explicit_paddings");
        for (int k = 0; k < 8; k++)
            if (e[k] < 0 || e[k] > 65536)
                return unsupported(c, "bad explicit_paddings");
        n->pad[0] = (int)e[2];
        n->pad[2] = (int)e[3];
        n->pad[1] = (int)e[4];
        n->pad[3] = (int)e[5];
    } else if (strcmp(pad, "VALID") != 0) {
        return unsupported(c, "unknown padding");
    }
    char fmt[16];
    attr_s(c->t, c->i, "data_format", fmt, sizeof(fmt));
    if (fmt[0] && strcmp(fmt, "NHWC") != 0)
        return unsupported(c, "data_format is not NHWC");
    int64_t s[4], d[4];
    int ns = attr_list_i(c->t, c->i, "strides", s, 4), nd = attr_list_i(c->t, c->i, "dilations", d, 4);
    if (ns != 4 || s[0] != 1 || s[3] != 1 || s[1] < 1 || s[2] < 1 || s[1] > 1024 || s[2] > 1024)
        return unsupported(c, "strides");
    n->stride[0] = (int)s[1];
    n->stride[1] = (int)s[2];
    if (nd == 4) {
        if (d[1] < 1 || d[2] < 1 || d[1] > 1024 || d[2] > 1024)
            return unsupported(c, "dilations");
        n->dil[0] = (int)d[1];
        n->dil[1] = (int)d[2];
    }
    return 0;
}

static int fused_ops(nctx *c, nn_node *n, int *has_bias)
{
    json_t *l = json_object_get(json_object_get(attr(c->t, c->i, "fused_ops"), "list"), "s");
    size_t k;
    json_t *s;
    *has_bias = 0;
    json_array_foreach(l, k, s) {
        char op[32];
        b64dec(json_string_value(s), op, sizeof(op));
        if (!strcmp(op, "BiasAdd") && k == 0)
            *has_bias = 1;
        else if (!strcmp(op, "Relu") && k == 1)
            n->act = NN_ACT_RELU;
        else if (!strcmp(op, "Relu6") && k == 1)
            n->act = NN_ACT_RELU6;
        else
            return unsupported(c, "fused op list");
    }
    return 0;
}

/* Constant filter of conv/depthwise converted to the IR layout. */
static int conv_weights(nctx *c, int dw, int *wid)
{
    CK(need_tensor(c, 1));
    const nn_tensor *w = tin(c, 1);
    if (!w->data || w->ndim != 4)
        return unsupported(c, "filter must be a constant 4-D tensor");
    int64_t kh = w->shape[0], kw = w->shape[1], ci = w->shape[2], co = w->shape[3];
    int64_t numel = kh * kw * ci * co;
    float *d = malloc(sizeof(float) * (size_t)(numel ? numel : 1));
    if (!d)
        return km_seterr(KM_ENOMEM, "out of memory");
    int64_t shape[4];
    if (dw) {
        if (co != 1) {
            free(d);
            return unsupported(c, "depth multiplier != 1");
        }
        memcpy(d, w->data, sizeof(float) * (size_t)numel);
        shape[0] = 1, shape[1] = kh, shape[2] = kw, shape[3] = ci;
    } else {
        for (int64_t y = 0; y < kh; y++)
            for (int64_t x = 0; x < kw; x++)
                for (int64_t i = 0; i < ci; i++)
                    for (int64_t o = 0; o < co; o++)
                        d[((o * kh + y) * kw + x) * ci + i] = w->data[((y * kw + x) * ci + i) * co + o];
        shape[0] = co, shape[1] = kh, shape[2] = kw, shape[3] = ci;
    }
    *wid = nn_graph_add_const(c->t->g, w->name, 4, shape, d);
    if (*wid < 0)
        return *wid;
    /* the filter's own copy is dead if this convolution was its only
     * reader: free it now (a load otherwise holds every filter twice, 25
     * MB for MoveNet Thunder, until pruning) */
    size_t src = (size_t)(c->in[1] - c->t->vals);
    if (src < c->t->nnodes && c->t->uses[src] == 1 && !strcmp(node_op(c->t, src), "Const"))
        nn_graph_release(c->t->g, c->in[1]->id);
    return 0;
}

static int lower_conv(nctx *c, int dw, int fused)
{
    nn_node n;
    memset(&n, 0, sizeof(n));
    n.op = dw ? NN_OP_DWCONV2D : NN_OP_CONV2D;
    CK(need_tensor(c, 0));
    CK(padding_attr(c, &n));
    int has_bias = 0;
    if (fused)
        CK(fused_ops(c, &n, &has_bias));
    n.in[0] = c->in[0]->id;
    CK(conv_weights(c, dw, &n.in[1]));
    const nn_tensor *w = &c->t->g->t[n.in[1]];
    int64_t cout = dw ? w->shape[3] : w->shape[0];
    if (has_bias) {
        CK(need_tensor(c, 2));
        if (!tin(c, 2)->data || nn_numel(tin(c, 2)) != cout)
            return unsupported(c, "bias must be a constant of output size");
        n.in[2] = c->in[2]->id;
    } else {
        float *z = calloc((size_t)cout, sizeof(float));
        if (!z)
            return km_seterr(KM_ENOMEM, "out of memory");
        n.in[2] = nn_graph_add_const(c->t->g, "zero_bias", 1, &cout, z);
        if (n.in[2] < 0)
            return n.in[2];
    }
    n.nin = 3;
    return emit(c, &n, 0, NULL);
}

static int lower_reshape(nctx *c, int ndim, const int64_t *shape)
{
    if (c->in[0]->kind == V_INT)
        return set_int(c, ndim, shape, c->in[0]->iv, c->in[0]->n);
    CK(need_tensor(c, 0));
    nn_node n;
    memset(&n, 0, sizeof(n));
    n.op = NN_OP_RESHAPE;
    n.nin = 1;
    n.in[0] = c->in[0]->id;
    return emit(c, &n, ndim, shape);
}

/* Shape of input 0 whichever kind it is. */
static void in_shape(const nctx *c, int *ndim, int64_t *shape)
{
    if (c->in[0]->kind == V_INT) {
        *ndim = c->in[0]->ndim;
        memcpy(shape, c->in[0]->shape, sizeof(int64_t) * NN_MAXDIM);
    } else {
        const nn_tensor *x = tin(c, 0);
        *ndim = x->ndim;
        memcpy(shape, x->shape, sizeof(int64_t) * NN_MAXDIM);
    }
}

static int lower_reshape_like(nctx *c)
{
    int nd;
    int64_t sh[NN_MAXDIM + 1];
    if (c->nin < 1 || c->in[0]->kind == V_NONE)
        return unsupported(c, "missing input");
    in_shape(c, &nd, sh);
    if (!strcmp(c->op, "Reshape")) {
        CK(need_int(c, 1));
        if (c->in[1]->n > NN_MAXDIM)
            return unsupported(c, "rank too large");
        return lower_reshape(c, (int)c->in[1]->n, c->in[1]->iv);
    }
    if (!strcmp(c->op, "ExpandDims")) {
        CK(need_int(c, 1));
        int64_t ax = c->in[1]->iv[0];
        if (ax < 0)
            ax += nd + 1;
        if (c->in[1]->n != 1 || ax < 0 || ax > nd || nd >= NN_MAXDIM)
            return unsupported(c, "axis");
        memmove(sh + ax + 1, sh + ax, sizeof(int64_t) * (size_t)(nd - ax));
        sh[ax] = 1;
        return lower_reshape(c, nd + 1, sh);
    }
    /* Squeeze, Unpack (num = 1) */
    int64_t dims[NN_MAXDIM];
    int nsq = 0;
    if (!strcmp(c->op, "Unpack")) {
        int64_t ax = attr_i(c->t, c->i, "axis", 0);
        if (ax < 0)
            ax += nd;
        if (ax < 0 || ax >= nd || sh[ax] != 1)
            return unsupported(c, "only num = 1 is supported");
        dims[nsq++] = ax;
    } else {
        nsq = attr_list_i(c->t, c->i, "squeeze_dims", dims, NN_MAXDIM);
        if (nsq < 0)
            return unsupported(c, "squeeze_dims");
    }
    int64_t out[NN_MAXDIM];
    int no = 0;
    for (int k = 0; k < nd; k++) {
        int drop = 0;
        for (int j = 0; j < nsq; j++)
            drop |= dims[j] == k || dims[j] + nd == k;
        if (nsq == 0)
            drop = sh[k] == 1;
        if (drop && sh[k] != 1)
            return unsupported(c, "squeezing a dimension that is not 1");
        if (!drop)
            out[no++] = sh[k];
    }
    return lower_reshape(c, no, out);
}

static int fold_strided_slice(nctx *c)
{
    for (int k = 0; k < 4; k++)
        CK(need_int(c, k));
    const jval *x = c->in[0];
    if (x->ndim != 1 || c->in[1]->n != 1 || c->in[2]->n != 1 || c->in[3]->n != 1 ||
        attr_i(c->t, c->i, "ellipsis_mask", 0) || attr_i(c->t, c->i, "new_axis_mask", 0))
        return unsupported(c, "only 1-D integer slices are folded");
    int64_t b = c->in[1]->iv[0], e = c->in[2]->iv[0], s = c->in[3]->iv[0], n = x->n;
    if (s != 1)
        return unsupported(c, "stride != 1");
    if (attr_i(c->t, c->i, "begin_mask", 0) & 1)
        b = 0;
    if (attr_i(c->t, c->i, "end_mask", 0) & 1)
        e = n;
    if (b < 0)
        b += n;
    if (e < 0)
        e += n;
    if (attr_i(c->t, c->i, "shrink_axis_mask", 0) & 1)
        e = b + 1;
    if (b < 0 || e > n || b > e)
        return unsupported(c, "slice out of range");
    int64_t shape[1] = {e - b};
    if (attr_i(c->t, c->i, "shrink_axis_mask", 0) & 1)
        return set_int(c, 0, shape, x->iv + b, 1);
    return set_int(c, 1, shape, x->iv + b, e - b);
}

static int fold_pack_concat(nctx *c, int concat)
{
    int64_t vals[MAX_INTS], n = 0;
    int nparts = concat ? c->nin - 1 : c->nin;
    for (int k = 0; k < nparts; k++) {
        CK(need_int(c, k));
        if (c->in[k]->ndim > 1 || n + c->in[k]->n > MAX_INTS)
            return unsupported(c, "only scalars / vectors are folded");
        memcpy(vals + n, c->in[k]->iv, sizeof(int64_t) * (size_t)c->in[k]->n);
        n += c->in[k]->n;
    }
    int64_t shape[1] = {n};
    return set_int(c, 1, shape, vals, n);
}

static int lower_concat(nctx *c)
{
    if (c->nin < 2 || c->nin - 1 > NN_MAXIN)
        return unsupported(c, "input count");
    CK(need_int(c, c->nin - 1));
    int all_int = 1;
    for (int k = 0; k < c->nin - 1; k++)
        all_int &= c->in[k]->kind == V_INT;
    if (all_int)
        return fold_pack_concat(c, 1);
    nn_node n;
    memset(&n, 0, sizeof(n));
    n.op = NN_OP_CONCAT;
    n.axis = (int)c->in[c->nin - 1]->iv[0];
    n.nin = c->nin - 1;
    for (int k = 0; k < n.nin; k++) {
        CK(need_tensor(c, k));
        n.in[k] = c->in[k]->id;
    }
    return emit(c, &n, 0, NULL);
}

/* Integer arithmetic on shape vectors (e.g. Shape * scale in resizes). */
static int fold_int_binary(nctx *c, nn_opk op)
{
    const jval *a = c->in[0], *b = c->in[1];
    const jval *big = a->n >= b->n ? a : b;
    if ((a->n != big->n && a->n != 1) || (b->n != big->n && b->n != 1))
        return unsupported(c, "integer operands do not broadcast");
    int64_t r[MAX_INTS];
    for (int64_t k = 0; k < big->n; k++) {
        int64_t x = a->iv[a->n == 1 ? 0 : k], y = b->iv[b->n == 1 ? 0 : k];
        if (x > INT32_MAX || x < INT32_MIN || y > INT32_MAX || y < INT32_MIN)
            return unsupported(c, "integer overflow");
        r[k] = op == NN_OP_ADD ? x + y : op == NN_OP_SUB ? x - y : x * y;
    }
    return set_int(c, big->ndim, big->shape, r, big->n);
}

static int lower_binary(nctx *c, nn_opk op)
{
    if (c->nin != 2)
        return unsupported(c, "input count");
    if (c->in[0]->kind == V_INT && c->in[1]->kind == V_INT && strcmp(c->op, "RealDiv") != 0)
        return fold_int_binary(c, op);
    CK(need_tensor(c, 0));
    CK(need_tensor(c, 1));
    nn_node n;
    memset(&n, 0, sizeof(n));
    n.op = op;
    n.nin = 2;
    n.in[0] = c->in[0]->id;
    n.in[1] = c->in[1]->id;
    if (!strcmp(c->op, "RealDiv")) {
        const nn_tensor *d = tin(c, 1);
        if (!d->data)
            return unsupported(c, "division by a non-constant");
        int64_t cnt = nn_numel(d);
        float *r = malloc(sizeof(float) * (size_t)(cnt ? cnt : 1));
        if (!r)
            return km_seterr(KM_ENOMEM, "out of memory");
        for (int64_t k = 0; k < cnt; k++)
            r[k] = 1.0f / d->data[k];
        n.in[1] = nn_graph_add_const(c->t->g, "reciprocal", d->ndim, d->shape, r);
        if (n.in[1] < 0)
            return n.in[1];
    }
    return emit(c, &n, 0, NULL);
}

static int lower_simple(nctx *c, nn_opk op, nn_act act)
{
    CK(need_tensor(c, 0));
    nn_node n;
    memset(&n, 0, sizeof(n));
    n.op = op;
    n.act = act;
    n.nin = 1;
    n.in[0] = c->in[0]->id;
    if (op == NN_OP_MAXPOOL || op == NN_OP_AVGPOOL) {
        int64_t k[4];
        if (attr_list_i(c->t, c->i, "ksize", k, 4) != 4 || k[0] != 1 || k[3] != 1 || k[1] < 1 || k[2] < 1 ||
            k[1] > 1024 || k[2] > 1024)
            return unsupported(c, "ksize");
        n.kernel[0] = (int)k[1];
        n.kernel[1] = (int)k[2];
        CK(padding_attr(c, &n));
    } else if (op == NN_OP_PAD) {
        CK(need_int(c, 1));
        const nn_tensor *x = tin(c, 0);
        if (c->in[1]->n != 2 * x->ndim)
            return unsupported(c, "paddings do not match rank");
        for (int d = 0; d < x->ndim; d++) {
            n.pads[d][0] = c->in[1]->iv[2 * d];
            n.pads[d][1] = c->in[1]->iv[2 * d + 1];
        }
        if (c->nin > 2 && (c->in[2]->kind != V_TENSOR || !tin(c, 2)->data || tin(c, 2)->data[0] != 0.0f))
            return unsupported(c, "non-zero pad value");
    } else if (op == NN_OP_RESIZE_BILINEAR) {
        CK(need_int(c, 1));
        if (c->in[1]->n != 2 || c->in[1]->iv[0] < 1 || c->in[1]->iv[1] < 1 || c->in[1]->iv[0] > 65536 ||
            c->in[1]->iv[1] > 65536)
            return unsupported(c, "size");
        n.size[0] = (int)c->in[1]->iv[0];
        n.size[1] = (int)c->in[1]->iv[1];
        n.align_corners = attr_b(c->t, c->i, "align_corners");
        n.half_pixel = attr_b(c->t, c->i, "half_pixel_centers");
    } else if (op == NN_OP_DEPTH_TO_SPACE) {
        n.block = (int)attr_i(c->t, c->i, "block_size", 0);
    }
    return emit(c, &n, 0, NULL);
}

static int lower_cast(nctx *c)
{
    if (c->in[0]->kind == V_TENSOR) {
        c->t->vals[c->i] = *c->in[0];
        return 0;
    }
    CK(need_int(c, 0));
    const char *dst = json_string_value(json_object_get(attr(c->t, c->i, "DstT"), "type"));
    if (dst && !strcmp(dst, "DT_INT32"))
        return set_int(c, c->in[0]->ndim, c->in[0]->shape, c->in[0]->iv, c->in[0]->n);
    float *d = malloc(sizeof(float) * (size_t)(c->in[0]->n ? c->in[0]->n : 1));
    if (!d)
        return km_seterr(KM_ENOMEM, "out of memory");
    for (int64_t k = 0; k < c->in[0]->n; k++)
        d[k] = (float)c->in[0]->iv[k];
    int id = nn_graph_add_const(c->t->g, c->name, c->in[0]->ndim, c->in[0]->shape, d);
    if (id < 0)
        return id;
    c->t->vals[c->i].kind = V_TENSOR;
    c->t->vals[c->i].id = id;
    return 0;
}

static int lower_placeholder(nctx *c)
{
    json_t *dl = json_object_get(json_object_get(attr(c->t, c->i, "shape"), "shape"), "dim");
    int nd = (int)json_array_size(dl);
    if (nd > NN_MAXDIM || c->t->g->nin >= NN_MAXIN)
        return unsupported(c, "input rank or count");
    int64_t sh[NN_MAXDIM];
    /* the signature's shape of this input, when it names one */
    json_t *sig = NULL, *sv;
    const char *key;
    json_object_foreach(json_object_get(json_object_get(c->t->root, "signature"), "inputs"), key, sv) {
        const char *nm = json_string_value(json_object_get(sv, "name"));
        if (nm && !strncmp(nm, c->name, strlen(c->name)) && (nm[strlen(c->name)] == ':' || !nm[strlen(c->name)]))
            sig = json_object_get(json_object_get(sv, "tensorShape"), "dim");
    }
    for (int k = 0; k < nd; k++) {
        sh[k] = jint(json_object_get(json_array_get(dl, (size_t)k), "size"), 1);
        if (sh[k] >= 0)
            continue;
        int64_t ss = json_array_size(sig) == (size_t)nd ? jint(json_object_get(json_array_get(sig, (size_t)k), "size"), -1) : -1;
        if (c->t->g->nin == 0 && c->t->in_shape && c->t->in_ndim == nd && c->t->in_shape[k] > 0)
            sh[k] = c->t->in_shape[k];
        else if (ss > 0)
            sh[k] = ss;
        else
            sh[k] = 1; /* dynamic batch: kinema runs batch 1 */
    }
    int id = nn_graph_add_tensor(c->t->g, c->name, strlen(c->name), nd, sh);
    if (id < 0)
        return id;
    c->t->g->in[c->t->g->nin++] = id;
    c->t->vals[c->i].kind = V_TENSOR;
    c->t->vals[c->i].id = id;
    return 0;
}

static int lower_node(tj *t, size_t i)
{
    nctx c;
    memset(&c, 0, sizeof(c));
    c.t = t;
    c.i = i;
    c.name = node_name(t, i);
    c.op = node_op(t, i);
    json_t *ins = json_object_get(json_array_get(t->nodes, i), "input");
    size_t k;
    json_t *r;
    json_array_foreach(ins, k, r) {
        int nd, port = 0;
        const char *ref = json_string_value(r);
        if (!ref)
            return km_seterr(KM_EFORMAT, "tfjs: node %s: input is not a string", c.name);
        CK(parse_ref(t, ref, &nd, &port));
        if (nd == -2)
            continue;
        if (port != 0 || c.nin >= NN_MAXIN + 2 || t->vals[nd].kind == V_NONE)
            return unsupported(&c, "multi-output producer or too many inputs");
        c.in[c.nin++] = &t->vals[nd];
    }
    const char *op = c.op;
    if (!strcmp(op, "Const"))
        return lower_const(t, i);
    if (!strcmp(op, "Placeholder"))
        return lower_placeholder(&c);
    if (c.nin < 1)
        return unsupported(&c, "no inputs");
    if (!strcmp(op, "Identity") || !strcmp(op, "Cast"))
        return lower_cast(&c);
    if (!strcmp(op, "_FusedConv2D"))
        return lower_conv(&c, 0, 1);
    if (!strcmp(op, "Conv2D"))
        return lower_conv(&c, 0, 0);
    if (!strcmp(op, "FusedDepthwiseConv2dNative"))
        return lower_conv(&c, 1, 1);
    if (!strcmp(op, "DepthwiseConv2dNative"))
        return lower_conv(&c, 1, 0);
    if (!strcmp(op, "AddV2") || !strcmp(op, "Add") || !strcmp(op, "BiasAdd"))
        return lower_binary(&c, NN_OP_ADD);
    if (!strcmp(op, "Sub"))
        return lower_binary(&c, NN_OP_SUB);
    if (!strcmp(op, "Mul") || !strcmp(op, "RealDiv"))
        return lower_binary(&c, NN_OP_MUL);
    if (!strcmp(op, "Relu"))
        return lower_simple(&c, NN_OP_ACT, NN_ACT_RELU);
    if (!strcmp(op, "Relu6"))
        return lower_simple(&c, NN_OP_ACT, NN_ACT_RELU6);
    if (!strcmp(op, "Sigmoid"))
        return lower_simple(&c, NN_OP_SIGMOID, NN_ACT_NONE);
    if (!strcmp(op, "MaxPool"))
        return lower_simple(&c, NN_OP_MAXPOOL, NN_ACT_NONE);
    if (!strcmp(op, "AvgPool"))
        return lower_simple(&c, NN_OP_AVGPOOL, NN_ACT_NONE);
    if (!strcmp(op, "Pad") || !strcmp(op, "PadV2"))
        return lower_simple(&c, NN_OP_PAD, NN_ACT_NONE);
    if (!strcmp(op, "ResizeBilinear"))
        return lower_simple(&c, NN_OP_RESIZE_BILINEAR, NN_ACT_NONE);
    if (!strcmp(op, "DepthToSpace"))
        return lower_simple(&c, NN_OP_DEPTH_TO_SPACE, NN_ACT_NONE);
    if (!strcmp(op, "ConcatV2"))
        return lower_concat(&c);
    if (!strcmp(op, "Reshape") || !strcmp(op, "ExpandDims") || !strcmp(op, "Squeeze") || !strcmp(op, "Unpack"))
        return lower_reshape_like(&c);
    if (!strcmp(op, "Shape")) {
        int nd;
        int64_t sh[NN_MAXDIM], len[1];
        in_shape(&c, &nd, sh);
        len[0] = nd;
        return set_int(&c, 1, len, sh, nd);
    }
    if (!strcmp(op, "StridedSlice"))
        return fold_strided_slice(&c);
    if (!strcmp(op, "Pack"))
        return attr_i(t, i, "axis", 0) == 0 ? fold_pack_concat(&c, 0) : unsupported(&c, "axis != 0");
    return unsupported(&c, NULL);
}

/* ---------------------------------------------------------- traversal */

/* Depth-first post-order from node `root`, with an explicit stack. */
static int visit(tj *t, int root)
{
    if (t->state[root] == 2)
        return 0;
    int *stack = malloc(sizeof(int) * (t->nnodes + 1));
    size_t *next = calloc(t->nnodes + 1, sizeof(size_t));
    if (!stack || !next) {
        free(stack);
        free(next);
        return km_seterr(KM_ENOMEM, "out of memory");
    }
    size_t sp = 0;
    int rc = 0;
    stack[sp++] = root;
    t->state[root] = 1;
    while (sp && !rc) {
        int n = stack[sp - 1];
        json_t *ins = json_object_get(json_array_get(t->nodes, (size_t)n), "input");
        if (next[sp - 1] < json_array_size(ins)) {
            const char *ref = json_string_value(json_array_get(ins, next[sp - 1]++));
            int d, port;
            if (!ref) {
                rc = km_seterr(KM_EFORMAT, "tfjs: input reference is not a string");
                break;
            }
            if ((rc = parse_ref(t, ref, &d, &port)) || d == -2)
                continue;
            if (t->state[d] == 1) {
                rc = km_seterr(KM_EFORMAT, "tfjs: cycle through node %s", node_name(t, (size_t)d));
            } else if (t->state[d] == 0) {
                t->state[d] = 1;
                next[sp] = 0;
                stack[sp++] = d;
            }
            continue;
        }
        rc = lower_node(t, (size_t)n);
        t->state[n] = 2;
        sp--;
    }
    free(stack);
    free(next);
    return rc;
}

/* Resolve an output request: a signature key or a node name[:0]. */
static int resolve_output(tj *t, const char *want, int *node, const char **key)
{
    json_t *outs = json_object_get(json_object_get(t->root, "signature"), "outputs");
    json_t *o = json_object_get(outs, want);
    const char *ref = o ? json_string_value(json_object_get(o, "name")) : want;
    int port = 0;
    *key = o ? want : NULL;
    if (!ref)
        return km_seterr(KM_EFORMAT, "tfjs: signature output '%s' has no name", want);
    int rc = parse_ref(t, ref, node, &port);
    if (rc || port != 0)
        return km_seterr(KM_ENOTFOUND, "tfjs: no output or node named '%s'", want);
    return 0;
}

static int add_output(tj *t, const char *want)
{
    int node;
    const char *key;
    CK(resolve_output(t, want, &node, &key));
    CK(visit(t, node));
    jval *v = &t->vals[node];
    if (v->kind != V_TENSOR || t->g->t[v->id].data || t->g->nout >= NN_MAXIN)
        return km_seterr(KM_EUNSUPPORTED, "tfjs: output '%s' is not a computed float tensor", want);
    if (key) { /* name default outputs by their signature key */
        char *nm = strdup(key);
        if (!nm)
            return km_seterr(KM_ENOMEM, "out of memory");
        free(t->g->t[v->id].name);
        t->g->t[v->id].name = nm;
    }
    t->g->out[t->g->nout++] = v->id;
    return 0;
}

/* t->uses: input references per node (control inputs and references
 * that do not resolve are left to the traversal to report). */
static int count_uses(tj *t)
{
    t->uses = calloc(t->nnodes + 1, sizeof(int));
    if (!t->uses)
        return km_seterr(KM_ENOMEM, "out of memory");
    for (size_t n = 0; n < t->nnodes; n++) {
        json_t *ins = json_object_get(json_array_get(t->nodes, n), "input");
        for (size_t k = 0; k < json_array_size(ins); k++) {
            const char *ref = json_string_value(json_array_get(ins, k));
            int d, port;
            if (ref && parse_ref(t, ref, &d, &port) == 0 && d >= 0)
                t->uses[d]++;
        }
    }
    return 0;
}

static int load(tj *t, const char *json_path, const char *const *outputs, int noutputs)
{
    uint8_t *txt;
    size_t len;
    CK(km_read_file(json_path, MAX_JSON, &txt, &len));
    json_error_t err;
    t->root = json_loadb((const char *)txt, len, 0, &err);
    free(txt);
    if (!t->root)
        return km_seterr(KM_EFORMAT, "tfjs: %s:%d:%d: %s", json_path, err.line, err.column, err.text);
    t->nodes = json_object_get(json_object_get(t->root, "modelTopology"), "node");
    if (!json_is_array(t->nodes) || json_array_size(t->nodes) > MAX_NODES)
        return km_seterr(KM_EFORMAT, "tfjs: %s has no modelTopology.node array", json_path);
    t->nnodes = json_array_size(t->nodes);
    char dir[4096];
    const char *slash = strrchr(json_path, '/');
    size_t dl = slash ? (size_t)(slash - json_path) : 1;
    if (dl >= sizeof(dir))
        return km_seterr(KM_EINVAL, "tfjs: path too long");
    memcpy(dir, slash ? json_path : ".", dl);
    dir[dl] = 0;
    CK(load_weights(t, dir));
    t->order = malloc(sizeof(int) * (t->nnodes + 1));
    t->vals = calloc(t->nnodes + 1, sizeof(jval));
    t->state = calloc(t->nnodes + 1, 1);
    if (!t->order || !t->vals || !t->state)
        return km_seterr(KM_ENOMEM, "out of memory");
    CK(sort_nodes(t));
    CK(count_uses(t));
    if (outputs && noutputs > 0) {
        if (noutputs > NN_MAXIN)
            return km_seterr(KM_EINVAL, "too many outputs requested");
        for (int i = 0; i < noutputs; i++)
            CK(add_output(t, outputs[i]));
    } else {
        json_t *outs = json_object_get(json_object_get(t->root, "signature"), "outputs");
        const char *key;
        json_t *v;
        if (!json_object_size(outs))
            return km_seterr(KM_EFORMAT, "tfjs: no signature outputs; name the outputs to compute");
        json_object_foreach(outs, key, v)
            CK(add_output(t, key));
    }
    if (t->g->nin < 1)
        return km_seterr(KM_EFORMAT, "tfjs: the requested outputs depend on no input");
    return 0;
}

int nn_load_tfjs(nn_graph *g, const char *json_path, const char *const *outputs, int noutputs,
                 const int64_t *in_shape, int in_ndim)
{
    tj t;
    memset(&t, 0, sizeof(t));
    t.g = g;
    t.in_shape = in_shape;
    t.in_ndim = in_ndim;
    int rc = load(&t, json_path, outputs, noutputs);
    if (t.vals)
        for (size_t i = 0; i < t.nnodes; i++)
            free(t.vals[i].iv);
    free(t.vals);
    free(t.state);
    free(t.uses);
    free(t.order);
    free(t.w);
    free(t.wdata);
    if (t.root)
        json_decref(t.root);
    if (!rc)
        nn_graph_prune(g);
    return rc;
}
