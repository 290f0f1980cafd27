/*
 * tflite.c - .tflite (FlatBuffer) loader producing the nn_graph IR.
 *
 * Why: kinema runs MediaPipe's BlazePose .tflite files natively. This
 * module walks the TFLite schema (Model > SubGraph > Tensor/Operator,
 * Buffer) through the bounded reader in fbuf.c, folds DEQUANTIZE of fp16
 * constants and DENSIFY of sparse constants into fp32 constants at load
 * time, and lowers every other operator to an IR node whose output shape is
 * inferred and compared with the shape the file declares.
 *
 * Field ids below follow the public TFLite schema (schema.fbs).
 * Ownership: nothing is retained from the file bytes after loading.
 */
#include <stdlib.h>
#include <string.h>

#include "kinema/util.h"
#include "nn/fbuf.h"
#include "nn/loaders.h"

/* builtin operator codes */
enum {
    OP_ADD = 0, OP_AVERAGE_POOL_2D = 1, OP_CONCATENATION = 2, OP_CONV_2D = 3,
    OP_DEPTHWISE_CONV_2D = 4, OP_DEPTH_TO_SPACE = 5, OP_DEQUANTIZE = 6,
    OP_LOGISTIC = 14, OP_MAX_POOL_2D = 17, OP_MUL = 18, OP_RELU = 19,
    OP_RELU6 = 21, OP_RESHAPE = 22, OP_RESIZE_BILINEAR = 23, OP_PAD = 34,
    OP_SUB = 41, OP_PADV2 = 60, OP_DENSIFY = 124,
};
/* tensor types */
enum { TT_FLOAT32 = 0, TT_FLOAT16 = 1, TT_INT32 = 2 };

typedef struct tfl {
    fb_buf b;
    size_t model, sg;
    fb_vec tensors, buffers, ops, codes;
    int *map;          /* tflite tensor index -> IR tensor id, -1 = not yet */
    nn_graph *g;
} tfl;

typedef struct tmeta {
    size_t tab;
    int type, ndim;
    int64_t shape[NN_MAXDIM];
    uint32_t buffer;
    const uint8_t *name;
    uint32_t namelen;
    size_t sparsity;
} tmeta;

static int tensor_meta(tfl *f, int idx, tmeta *m)
{
    if (idx < 0 || (uint32_t)idx >= f->tensors.count)
        return km_seterr(KM_EFORMAT, "tflite: tensor index %d out of range", idx);
    CK(fb_vec_table(&f->b, &f->tensors, (uint32_t)idx, &m->tab));
    fb_vec sh;
    uint8_t type;
    CK(fb_vector(&f->b, m->tab, 0, 4, &sh));
    CK(fb_u8(&f->b, m->tab, 1, 0, &type));
    CK(fb_u32(&f->b, m->tab, 2, 0, &m->buffer));
    CK(fb_string(&f->b, m->tab, 3, &m->name, &m->namelen));
    CK(fb_table(&f->b, m->tab, 6, &m->sparsity));
    if (sh.count > NN_MAXDIM)
        return km_seterr(KM_EUNSUPPORTED, "tflite: tensor %d has rank %u", idx, sh.count);
    m->ndim = (int)sh.count;
    m->type = type;
    for (uint32_t i = 0; i < sh.count; i++) {
        int32_t d;
        CK(fb_vec_i32(&f->b, &sh, i, &d));
        if (d < 0)
            d = 1; /* dynamic batch: kinema runs batch 1 */
        m->shape[i] = d;
    }
    int64_t numel;
    return nn_shape_numel(m->ndim, m->shape, &numel);
}

/* Bytes of buffer `bi` (NULL/0 when empty). */
static int buffer_bytes(tfl *f, uint32_t bi, const uint8_t **p, size_t *len)
{
    *p = NULL;
    *len = 0;
    if (bi == 0)
        return 0;
    if (bi >= f->buffers.count)
        return km_seterr(KM_EFORMAT, "tflite: buffer index %u out of range", bi);
    size_t bt;
    fb_vec data;
    uint64_t off, size;
    CK(fb_vec_table(&f->b, &f->buffers, bi, &bt));
    CK(fb_vector(&f->b, bt, 0, 1, &data));
    CK(fb_u64(&f->b, bt, 1, 0, &off));
    CK(fb_u64(&f->b, bt, 2, 0, &size));
    if (data.count) {
        *p = f->b.p + data.start;
        *len = data.count;
    } else if (off > 1) {
        if (off > f->b.n || size > f->b.n - off)
            return km_seterr(KM_EFORMAT, "tflite: buffer %u data out of bounds", bi);
        *p = f->b.p + off;
        *len = (size_t)size;
    }
    return 0;
}

/* Decode `count` values of a float tensor type into a new fp32 array. */
static int decode_floats(int type, const uint8_t *p, size_t len, int64_t count, float **out)
{
    size_t es = type == TT_FLOAT32 ? 4 : type == TT_FLOAT16 ? 2 : 0;
    if (!es)
        return km_seterr(KM_EUNSUPPORTED, "tflite: constant of type %d (only float32/float16)", type);
    if ((uint64_t)count * es != len)
        return km_seterr(KM_EFORMAT, "tflite: constant holds %zu bytes, shape needs %lld", len,
                         (long long)count * (long long)es);
    float *d = malloc((size_t)(count ? count : 1) * sizeof(float));
    if (!d)
        return km_seterr(KM_ENOMEM, "out of memory (constant of %lld values)", (long long)count);
    for (int64_t i = 0; i < count; i++) {
        if (es == 4)
            memcpy(&d[i], p + 4 * i, 4);
        else
            d[i] = nn_half_to_float(fb_rd16(p + 2 * i));
    }
    *out = d;
    return 0;
}

/* ------------------------------------------------------------ DENSIFY */

typedef struct dimmeta {
    int sparse;
    int32_t dense;
    fb_vec seg, idx;
    int segt, idxt; /* 1 int32, 2 uint16, 3 uint8 */
} dimmeta;

static int rd_index(tfl *f, const fb_vec *v, int type, uint32_t i, int64_t *out)
{
    if (i >= v->count)
        return km_seterr(KM_EFORMAT, "tflite: sparse index %u out of range", i);
    const uint8_t *p = f->b.p + v->start;
    *out = type == 1 ? (int64_t)(int32_t)fb_rd32(p + 4 * (size_t)i) : type == 2 ? fb_rd16(p + 2 * (size_t)i) : p[i];
    return 0;
}

typedef struct dens {
    tfl *f;
    const dimmeta *dm;
    const tmeta *m;
    const float *vals;
    int64_t nvals;
    float *out;
} dens;

static int dens_rec(dens *d, int level, int64_t prev, int64_t off)
{
    if (level == d->m->ndim) {
        if (prev < 0 || prev >= d->nvals)
            return km_seterr(KM_EFORMAT, "tflite: sparse value index out of range");
        d->out[off] = d->vals[prev];
        return 0;
    }
    const dimmeta *dm = &d->dm[level];
    int64_t n = d->m->shape[level];
    if (!dm->sparse) {
        for (int64_t i = 0; i < n; i++)
            CK(dens_rec(d, level + 1, prev * n + i, off * n + i));
        return 0;
    }
    int64_t a, b;
    if (prev < 0 || prev >= (int64_t)UINT32_MAX)
        return km_seterr(KM_EFORMAT, "tflite: sparse segment out of range");
    CK(rd_index(d->f, &dm->seg, dm->segt, (uint32_t)prev, &a));
    CK(rd_index(d->f, &dm->seg, dm->segt, (uint32_t)prev + 1, &b));
    if (a < 0 || b < a || b > (int64_t)dm->idx.count)
        return km_seterr(KM_EFORMAT, "tflite: sparse segments not monotonic");
    for (int64_t j = a; j < b; j++) {
        int64_t i;
        CK(rd_index(d->f, &dm->idx, dm->idxt, (uint32_t)j, &i));
        if (i < 0 || i >= n)
            return km_seterr(KM_EFORMAT, "tflite: sparse index %lld >= %lld", (long long)i, (long long)n);
        CK(dens_rec(d, level + 1, j, off * n + i));
    }
    return 0;
}

static int index_vec(tfl *f, size_t dmt, int tid, int vid, fb_vec *v, int *type)
{
    uint8_t t;
    size_t tab;
    CK(fb_u8(&f->b, dmt, tid, 0, &t));
    CK(fb_table(&f->b, dmt, vid, &tab));
    if (t < 1 || t > 3 || !tab)
        return km_seterr(KM_EFORMAT, "tflite: sparse index vector missing or of unknown type");
    *type = t;
    return fb_vector(&f->b, tab, 0, t == 1 ? 4 : t == 2 ? 2 : 1, v);
}

static int densify(tfl *f, const tmeta *m, const float *vals, int64_t nvals, float **out)
{
    fb_vec order, bmap, dims;
    CK(fb_vector(&f->b, m->sparsity, 0, 4, &order));
    CK(fb_vector(&f->b, m->sparsity, 1, 4, &bmap));
    CK(fb_vector(&f->b, m->sparsity, 2, 4, &dims));
    if (bmap.count || dims.count != (uint32_t)m->ndim || (order.count && order.count != (uint32_t)m->ndim))
        return km_seterr(KM_EUNSUPPORTED, "tflite: block-sparse or reordered sparse tensors");
    for (uint32_t i = 0; i < order.count; i++) {
        int32_t o;
        CK(fb_vec_i32(&f->b, &order, i, &o));
        if (o != (int32_t)i)
            return km_seterr(KM_EUNSUPPORTED, "tflite: sparse traversal order is not the identity");
    }
    dimmeta dm[NN_MAXDIM];
    memset(dm, 0, sizeof(dm));
    for (int i = 0; i < m->ndim; i++) {
        size_t dmt;
        uint8_t fmt;
        CK(fb_vec_table(&f->b, &dims, (uint32_t)i, &dmt));
        CK(fb_u8(&f->b, dmt, 0, 0, &fmt));
        CK(fb_i32(&f->b, dmt, 1, 0, &dm[i].dense));
        dm[i].sparse = fmt == 1;
        if (fmt > 1)
            return km_seterr(KM_EUNSUPPORTED, "tflite: sparse dimension format %d", fmt);
        if (!dm[i].sparse && dm[i].dense != m->shape[i])
            return km_seterr(KM_EFORMAT, "tflite: dense dimension size %d != shape %lld", dm[i].dense,
                             (long long)m->shape[i]);
        if (dm[i].sparse) {
            CK(index_vec(f, dmt, 2, 3, &dm[i].seg, &dm[i].segt));
            CK(index_vec(f, dmt, 4, 5, &dm[i].idx, &dm[i].idxt));
        }
    }
    int64_t numel;
    CK(nn_shape_numel(m->ndim, m->shape, &numel));
    /* a sparse tensor may not expand beyond 64x the file (no allocation
     * sized by an unchecked number) */
    if ((uint64_t)numel > 64 * (uint64_t)f->b.n + (1u << 20))
        return km_seterr(KM_EFORMAT, "tflite: sparse tensor expands to %lld values", (long long)numel);
    float *o = calloc((size_t)(numel ? numel : 1), sizeof(float));
    if (!o)
        return km_seterr(KM_ENOMEM, "out of memory (densify)");
    dens d = {f, dm, m, vals, nvals, o};
    int rc = dens_rec(&d, 0, 0, 0);
    if (rc) {
        free(o);
        return rc;
    }
    *out = o;
    return 0;
}

/* ----------------------------------------------------- tensors -> IR */

/* IR id of tflite tensor idx: constants are decoded, activations created. */
static int ir_tensor(tfl *f, int idx, int *id)
{
    if (idx < 0 || (uint32_t)idx >= f->tensors.count)
        return km_seterr(KM_EFORMAT, "tflite: tensor index %d out of range", idx);
    if (f->map[idx] >= 0) {
        *id = f->map[idx];
        return 0;
    }
    tmeta m;
    const uint8_t *p;
    size_t len;
    CK(tensor_meta(f, idx, &m));
    CK(buffer_bytes(f, m.buffer, &p, &len));
    int r;
    if (p && !m.sparsity) {
        float *d;
        int64_t numel;
        CK(nn_shape_numel(m.ndim, m.shape, &numel));
        CK(decode_floats(m.type, p, len, numel, &d));
        r = nn_graph_add_tensor(f->g, (const char *)m.name, m.namelen, m.ndim, m.shape);
        if (r < 0) {
            free(d);
            return r;
        }
        f->g->t[r].data = d;
    } else if (p) {
        return km_seterr(KM_EUNSUPPORTED, "tflite: sparse tensor %d used without DENSIFY", idx);
    } else {
        if (m.type != TT_FLOAT32)
            return km_seterr(KM_EUNSUPPORTED, "tflite: activation tensor %d of type %d (only float32)", idx, m.type);
        r = nn_graph_add_tensor(f->g, (const char *)m.name, m.namelen, m.ndim, m.shape);
        if (r < 0)
            return r;
    }
    f->map[idx] = r;
    *id = r;
    return 0;
}

/* Integer constant values of tflite tensor idx. */
static int int_const(tfl *f, int idx, int64_t *vals, int max, int *count)
{
    tmeta m;
    const uint8_t *p;
    size_t len;
    CK(tensor_meta(f, idx, &m));
    CK(buffer_bytes(f, m.buffer, &p, &len));
    if (!p || m.type != TT_INT32 || len % 4 || len / 4 > (size_t)max)
        return km_seterr(KM_EUNSUPPORTED, "tflite: tensor %d must be a small int32 constant", idx);
    for (size_t i = 0; i < len / 4; i++)
        vals[i] = (int32_t)fb_rd32(p + 4 * i);
    *count = (int)(len / 4);
    return 0;
}

/* ------------------------------------------------------ operators */

typedef struct opinfo {
    size_t tab, opts;
    int code, nin, nout;
    int in[NN_MAXIN], out[4];
    char name[96];
} opinfo;

static int act_of(int a, nn_act *out, const char *name)
{
    switch (a) {
    case 0: *out = NN_ACT_NONE; return 0;
    case 1: *out = NN_ACT_RELU; return 0;
    case 3: *out = NN_ACT_RELU6; return 0;
    default:
        return km_seterr(KM_EUNSUPPORTED, "tflite: node %s: fused activation %d not supported", name, a);
    }
}

static int read_op(tfl *f, uint32_t i, opinfo *o)
{
    fb_vec vi, vo;
    uint32_t ci;
    CK(fb_vec_table(&f->b, &f->ops, i, &o->tab));
    CK(fb_u32(&f->b, o->tab, 0, 0, &ci));
    CK(fb_vector(&f->b, o->tab, 1, 4, &vi));
    CK(fb_vector(&f->b, o->tab, 2, 4, &vo));
    CK(fb_table(&f->b, o->tab, 4, &o->opts));
    if (ci >= f->codes.count)
        return km_seterr(KM_EFORMAT, "tflite: operator %u: opcode index %u out of range", i, ci);
    if (vi.count > NN_MAXIN || vo.count > 4 || vo.count < 1)
        return km_seterr(KM_EUNSUPPORTED, "tflite: operator %u has %u inputs, %u outputs", i, vi.count, vo.count);
    size_t ct;
    int8_t dep;
    int32_t bc;
    CK(fb_vec_table(&f->b, &f->codes, ci, &ct));
    CK(fb_i8(&f->b, ct, 0, 0, &dep));
    CK(fb_i32(&f->b, ct, 3, 0, &bc));
    o->code = bc > dep ? bc : dep;
    const uint8_t *cs;
    uint32_t cl;
    CK(fb_string(&f->b, ct, 1, &cs, &cl));
    if (cs && cl)
        o->code = -1;
    o->nin = (int)vi.count;
    o->nout = (int)vo.count;
    for (uint32_t k = 0; k < vi.count; k++) {
        int32_t v;
        CK(fb_vec_i32(&f->b, &vi, k, &v));
        o->in[k] = v;
    }
    for (uint32_t k = 0; k < vo.count; k++) {
        int32_t v;
        CK(fb_vec_i32(&f->b, &vo, k, &v));
        if (v < 0 || (uint32_t)v >= f->tensors.count)
            return km_seterr(KM_EFORMAT, "tflite: operator %u output index out of range", i);
        o->out[k] = v;
    }
    tmeta m;
    CK(tensor_meta(f, o->out[0], &m));
    size_t n = m.namelen < sizeof(o->name) - 1 ? m.namelen : sizeof(o->name) - 1;
    if (n)
        memcpy(o->name, m.name, n);
    o->name[n] = 0;
    return 0;
}

static int fold_const_op(tfl *f, const opinfo *o)
{
    if (o->nin < 1 || o->in[0] < 0)
        return km_seterr(KM_EFORMAT, "tflite: node %s has no input", o->name);
    if (o->code == OP_DEQUANTIZE) {
        int id;
        CK(ir_tensor(f, o->in[0], &id));
        if (!f->g->t[id].data)
            return km_seterr(KM_EUNSUPPORTED, "tflite: DEQUANTIZE of a non-constant (node %s)", o->name);
        f->map[o->out[0]] = id;
        return 0;
    }
    /* DENSIFY */
    tmeta m, om;
    const uint8_t *p;
    size_t len;
    CK(tensor_meta(f, o->in[0], &m));
    CK(tensor_meta(f, o->out[0], &om));
    CK(buffer_bytes(f, m.buffer, &p, &len));
    if (!m.sparsity || !p)
        return km_seterr(KM_EUNSUPPORTED, "tflite: DENSIFY of a non-sparse constant (node %s)", o->name);
    size_t es = m.type == TT_FLOAT16 ? 2 : 4;
    float *vals = NULL, *dense = NULL;
    CK(decode_floats(m.type, p, len, (int64_t)(len / es), &vals));
    int rc = densify(f, &m, vals, (int64_t)(len / es), &dense);
    free(vals);
    if (rc)
        return rc;
    int id = nn_graph_add_tensor(f->g, (const char *)om.name, om.namelen, m.ndim, m.shape);
    if (id < 0) {
        free(dense);
        return id;
    }
    f->g->t[id].data = dense;
    f->map[o->out[0]] = id;
    return 0;
}

static int conv_opts(tfl *f, const opinfo *o, nn_node *n)
{
    int dw = o->code == OP_DEPTHWISE_CONV_2D;
    uint8_t pad, act;
    int32_t sw, sh, dwf, dhf, mult = 1;
    CK(fb_u8(&f->b, o->opts, 0, 0, &pad));
    CK(fb_i32(&f->b, o->opts, 1, 1, &sw));
    CK(fb_i32(&f->b, o->opts, 2, 1, &sh));
    if (dw)
        CK(fb_i32(&f->b, o->opts, 3, 1, &mult));
    CK(fb_u8(&f->b, o->opts, dw ? 4 : 3, 0, &act));
    CK(fb_i32(&f->b, o->opts, dw ? 5 : 4, 1, &dwf));
    CK(fb_i32(&f->b, o->opts, dw ? 6 : 5, 1, &dhf));
    if (sw < 1 || sh < 1 || dwf < 1 || dhf < 1 || sw > 1024 || sh > 1024 || dwf > 1024 || dhf > 1024)
        return km_seterr(KM_EFORMAT, "tflite: node %s: invalid stride or dilation", o->name);
    if (dw && mult != 1) {
        /* a multiplier is fine only when the input has one channel per group */
        tmeta xm;
        CK(tensor_meta(f, o->in[0], &xm));
        if (xm.ndim != 4 || xm.shape[3] * mult != xm.shape[3])
            return km_seterr(KM_EUNSUPPORTED, "tflite: node %s: depth multiplier %d", o->name, mult);
    }
    n->same = pad == 0;
    n->stride[0] = sh;
    n->stride[1] = sw;
    n->dil[0] = dhf;
    n->dil[1] = dwf;
    return act_of(act, &n->act, o->name);
}

static int pool_opts(tfl *f, const opinfo *o, nn_node *n)
{
    uint8_t pad, act;
    int32_t sw, sh, fw, fh;
    CK(fb_u8(&f->b, o->opts, 0, 0, &pad));
    CK(fb_i32(&f->b, o->opts, 1, 1, &sw));
    CK(fb_i32(&f->b, o->opts, 2, 1, &sh));
    CK(fb_i32(&f->b, o->opts, 3, 1, &fw));
    CK(fb_i32(&f->b, o->opts, 4, 1, &fh));
    CK(fb_u8(&f->b, o->opts, 5, 0, &act));
    if (sw < 1 || sh < 1 || fw < 1 || fh < 1 || sw > 1024 || sh > 1024 || fw > 1024 || fh > 1024)
        return km_seterr(KM_EFORMAT, "tflite: node %s: invalid pooling parameters", o->name);
    n->same = pad == 0;
    n->stride[0] = sh;
    n->stride[1] = sw;
    n->kernel[0] = fh;
    n->kernel[1] = fw;
    return act_of(act, &n->act, o->name);
}

static int zero_bias(tfl *f, nn_node *n)
{
    int64_t c = f->g->t[n->in[1]].ndim == 4 ? f->g->t[n->in[1]].shape[n->op == NN_OP_CONV2D ? 0 : 3] : 0;
    if (c < 1 || c > NN_MAX_ELEMS)
        return km_seterr(KM_EFORMAT, "tflite: invalid weights shape");
    float *z = calloc((size_t)c, sizeof(float));
    if (!z)
        return km_seterr(KM_ENOMEM, "out of memory");
    int id = nn_graph_add_const(f->g, "zero_bias", 1, &c, z);
    if (id < 0)
        return id;
    n->in[2] = id;
    n->nin = 3;
    return 0;
}

static int lower_op(tfl *f, const opinfo *o)
{
    nn_node n;
    memset(&n, 0, sizeof(n));
    int64_t iv[16];
    int ni;
    int nin_data = 1;
    switch (o->code) {
    case OP_CONV_2D:
    case OP_DEPTHWISE_CONV_2D:
        n.op = o->code == OP_CONV_2D ? NN_OP_CONV2D : NN_OP_DWCONV2D;
        CK(conv_opts(f, o, &n));
        nin_data = o->nin >= 3 && o->in[2] >= 0 ? 3 : 2;
        break;
    case OP_ADD:
    case OP_SUB:
    case OP_MUL: {
        n.op = o->code == OP_ADD ? NN_OP_ADD : o->code == OP_SUB ? NN_OP_SUB : NN_OP_MUL;
        uint8_t act;
        CK(fb_u8(&f->b, o->opts, 0, 0, &act));
        CK(act_of(act, &n.act, o->name));
        nin_data = 2;
        break;
    }
    case OP_MAX_POOL_2D:
    case OP_AVERAGE_POOL_2D:
        n.op = o->code == OP_MAX_POOL_2D ? NN_OP_MAXPOOL : NN_OP_AVGPOOL;
        CK(pool_opts(f, o, &n));
        break;
    case OP_PAD:
    case OP_PADV2: {
        n.op = NN_OP_PAD;
        if (o->nin < 2)
            return km_seterr(KM_EFORMAT, "tflite: PAD %s without paddings", o->name);
        CK(int_const(f, o->in[1], iv, 2 * NN_MAXDIM, &ni));
        tmeta xm;
        CK(tensor_meta(f, o->in[0], &xm));
        if (ni != 2 * xm.ndim)
            return km_seterr(KM_EFORMAT, "tflite: PAD %s paddings do not match rank", o->name);
        for (int i = 0; i < xm.ndim; i++) {
            n.pads[i][0] = iv[2 * i];
            n.pads[i][1] = iv[2 * i + 1];
        }
        if (o->code == OP_PADV2 && o->nin >= 3) {
            int id;
            CK(ir_tensor(f, o->in[2], &id));
            if (!f->g->t[id].data || nn_numel(&f->g->t[id]) != 1 || f->g->t[id].data[0] != 0.0f)
                return km_seterr(KM_EUNSUPPORTED, "tflite: PADV2 %s with a non-zero value", o->name);
        }
        break;
    }
    case OP_RESHAPE: {
        n.op = NN_OP_RESHAPE;
        int id; /* creates the output with its declared (target) shape */
        CK(ir_tensor(f, o->out[0], &id));
        break;
    }
    case OP_RESIZE_BILINEAR: {
        n.op = NN_OP_RESIZE_BILINEAR;
        if (o->nin < 2)
            return km_seterr(KM_EFORMAT, "tflite: RESIZE_BILINEAR %s without size", o->name);
        CK(int_const(f, o->in[1], iv, 2, &ni));
        if (ni != 2 || iv[0] < 1 || iv[1] < 1 || iv[0] > 65536 || iv[1] > 65536)
            return km_seterr(KM_EFORMAT, "tflite: RESIZE_BILINEAR %s invalid size", o->name);
        n.size[0] = (int)iv[0];
        n.size[1] = (int)iv[1];
        CK(fb_bool(&f->b, o->opts, 2, &n.align_corners));
        CK(fb_bool(&f->b, o->opts, 3, &n.half_pixel));
        break;
    }
    case OP_LOGISTIC:
        n.op = NN_OP_SIGMOID;
        break;
    case OP_RELU:
    case OP_RELU6:
        n.op = NN_OP_ACT;
        n.act = o->code == OP_RELU ? NN_ACT_RELU : NN_ACT_RELU6;
        break;
    case OP_DEPTH_TO_SPACE: {
        n.op = NN_OP_DEPTH_TO_SPACE;
        int32_t bs;
        CK(fb_i32(&f->b, o->opts, 0, 0, &bs));
        n.block = bs;
        break;
    }
    case OP_CONCATENATION: {
        n.op = NN_OP_CONCAT;
        int32_t ax;
        uint8_t act;
        CK(fb_i32(&f->b, o->opts, 0, 0, &ax));
        CK(fb_u8(&f->b, o->opts, 1, 0, &act));
        if (act)
            return km_seterr(KM_EUNSUPPORTED, "tflite: CONCATENATION %s with fused activation", o->name);
        n.axis = ax;
        nin_data = o->nin;
        break;
    }
    default:
        return km_seterr(KM_EUNSUPPORTED, "tflite: unsupported op %d (custom=%s) at node '%s'", o->code,
                         o->code < 0 ? "yes" : "no", o->name);
    }
    if (nin_data > o->nin || o->nin < 1)
        return km_seterr(KM_EFORMAT, "tflite: node %s has too few inputs", o->name);
    n.nin = nin_data;
    for (int k = 0; k < nin_data; k++)
        CK(ir_tensor(f, o->in[k], &n.in[k]));
    if ((n.op == NN_OP_CONV2D || n.op == NN_OP_DWCONV2D) && n.nin == 2)
        CK(zero_bias(f, &n));
    CK(ir_tensor(f, o->out[0], &n.out));
    /* keep the declared shape to compare after inference */
    nn_tensor decl = f->g->t[n.out];
    CK(nn_graph_add_node(f->g, &n, o->name));
    const nn_tensor *y = &f->g->t[n.out];
    int same = decl.ndim == y->ndim;
    for (int i = 0; same && i < y->ndim; i++)
        same = decl.shape[i] == y->shape[i];
    if (!same)
        return km_seterr(KM_EFORMAT, "tflite: node '%s' (%s): declared output shape differs from inferred", o->name,
                         nn_op_name(n.op));
    return 0;
}

/* ------------------------------------------------------------- model */

static int name_eq(tfl *f, int idx, const char *want)
{
    tmeta m;
    if (tensor_meta(f, idx, &m))
        return 0;
    size_t wl = strlen(want);
    if (wl >= 2 && want[wl - 2] == ':' && want[wl - 1] == '0')
        wl -= 2;
    return m.namelen == wl && memcmp(m.name, want, wl) == 0;
}

static int find_tensor(tfl *f, const char *want, int *idx)
{
    for (uint32_t i = 0; i < f->tensors.count; i++)
        if (name_eq(f, (int)i, want)) {
            *idx = (int)i;
            return 0;
        }
    return km_seterr(KM_ENOTFOUND, "tflite: no tensor named '%s'", want);
}

/* Mark operators needed for the requested outputs (walking backwards). */
static int mark_needed(tfl *f, const int *outs, int nouts, char *need_op)
{
    char *need_t = calloc(f->tensors.count ? f->tensors.count : 1, 1);
    if (!need_t)
        return km_seterr(KM_ENOMEM, "out of memory");
    for (int i = 0; i < nouts; i++)
        need_t[outs[i]] = 1;
    int rc = 0;
    for (uint32_t i = f->ops.count; i-- > 0;) {
        opinfo o;
        if ((rc = read_op(f, i, &o)))
            break;
        int any = 0;
        for (int k = 0; k < o.nout; k++)
            any |= need_t[o.out[k]];
        need_op[i] = (char)any;
        for (int k = 0; any && k < o.nin; k++) {
            if (o.in[k] >= (int)f->tensors.count) {
                rc = km_seterr(KM_EFORMAT, "tflite: operator input index out of range");
                break;
            }
            if (o.in[k] >= 0)
                need_t[o.in[k]] = 1;
        }
        if (rc)
            break;
    }
    free(need_t);
    return rc;
}

static int load_model(tfl *f, const char *const *outputs, int noutputs)
{
    fb_vec sgs, gin, gout;
    CK(fb_root(&f->b, &f->model));
    CK(fb_vector(&f->b, f->model, 1, 4, &f->codes));
    CK(fb_vector(&f->b, f->model, 2, 4, &sgs));
    CK(fb_vector(&f->b, f->model, 4, 4, &f->buffers));
    if (sgs.count < 1)
        return km_seterr(KM_EFORMAT, "tflite: no subgraph");
    CK(fb_vec_table(&f->b, &sgs, 0, &f->sg));
    CK(fb_vector(&f->b, f->sg, 0, 4, &f->tensors));
    CK(fb_vector(&f->b, f->sg, 1, 4, &gin));
    CK(fb_vector(&f->b, f->sg, 2, 4, &gout));
    CK(fb_vector(&f->b, f->sg, 3, 4, &f->ops));
    if (f->tensors.count > NN_MAX_TENSORS || gin.count < 1 || gin.count > NN_MAXIN || gout.count > NN_MAXIN)
        return km_seterr(KM_EFORMAT, "tflite: invalid tensor, input or output count");
    f->map = malloc(sizeof(int) * (f->tensors.count ? f->tensors.count : 1));
    char *need = calloc(f->ops.count ? f->ops.count : 1, 1);
    if (!f->map || !need) {
        free(need);
        return km_seterr(KM_ENOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < f->tensors.count; i++)
        f->map[i] = -1;
    int outs[NN_MAXIN], nouts = 0, rc = 0;
    if (outputs && noutputs > 0) {
        if (noutputs > NN_MAXIN)
            rc = km_seterr(KM_EINVAL, "too many outputs requested");
        for (int i = 0; !rc && i < noutputs; i++)
            rc = find_tensor(f, outputs[i], &outs[nouts++]);
    } else {
        for (uint32_t i = 0; !rc && i < gout.count; i++) {
            int32_t v;
            rc = fb_vec_i32(&f->b, &gout, i, &v);
            if (!rc && (v < 0 || (uint32_t)v >= f->tensors.count))
                rc = km_seterr(KM_EFORMAT, "tflite: graph output index out of range");
            outs[nouts++] = v;
        }
    }
    if (!rc)
        rc = mark_needed(f, outs, nouts, need);
    for (uint32_t i = 0; !rc && i < gin.count; i++) {
        int32_t v;
        rc = fb_vec_i32(&f->b, &gin, i, &v);
        if (!rc)
            rc = ir_tensor(f, v, &f->g->in[f->g->nin]);
        if (!rc)
            f->g->nin++;
    }
    for (uint32_t i = 0; !rc && i < f->ops.count; i++) {
        opinfo o;
        if (!need[i])
            continue;
        rc = read_op(f, i, &o);
        if (!rc)
            rc = (o.code == OP_DEQUANTIZE || o.code == OP_DENSIFY) ? fold_const_op(f, &o) : lower_op(f, &o);
    }
    for (int i = 0; !rc && i < nouts; i++) {
        int id = f->map[outs[i]];
        if (id < 0 || f->g->t[id].data)
            rc = km_seterr(KM_EFORMAT, "tflite: output %d is not computed by the graph", i);
        f->g->out[f->g->nout++] = id;
    }
    free(need);
    return rc;
}

int nn_load_tflite(nn_graph *g, const uint8_t *data, size_t len, const char *const *outputs, int noutputs)
{
    tfl f;
    memset(&f, 0, sizeof(f));
    f.b.p = data;
    f.b.n = len;
    f.g = g;
    if (len >= (size_t)1 << 31)
        return km_seterr(KM_EUNSUPPORTED, "tflite: files over 2 GiB are not supported");
    if (len < 8 || memcmp(data + 4, "TFL3", 4) != 0)
        return km_seterr(KM_EFORMAT, "tflite: missing TFL3 identifier");
    int rc = load_model(&f, outputs, noutputs);
    free(f.map);
    if (!rc)
        nn_graph_prune(g);
    return rc;
}
