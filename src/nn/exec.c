/*
 * exec.c - oneDNN executor (see exec.h for why and ownership).
 *
 * Planning, in order:
 *   1. fusion: a zero PAD feeding only a convolution becomes the
 *      convolution's padding; a convolution absorbs the chain of
 *      single-consumer successors ACT / LOGISTIC / ADD (same-shape
 *      activation addend) as oneDNN post-ops (eltwise, binary add; in
 *      bf16 the ADD is a sum into dst); the fused step runs where the last
 *      absorbed node ran; RESHAPE becomes an alias of its input's storage;
 *   2. dtypes (bf16 plans, assign_dtypes); then band fusion: a 1x1
 *      convolution whose large output feeds only a depthwise convolution
 *      runs with it band by band through an L2-sized buffer (plan_bands);
 *   3. oneDNN primitives: convolutions (depthwise = grouped, weights
 *      format_tag_any, reordered once), max/avg pooling, linear
 *      resampling (half-pixel centres); kinema's kernels (narrow.c) for
 *      stride-1 convolutions on 1-16 channels and, in bf16, wide 3x3/5x5
 *      depthwise; zero PAD and DEPTH_TO_SPACE copy kernels (ref.c), all in
 *      either type; everything else runs the reference kernel;
 *   4. liveness: each storage lives from the step that writes it to the
 *      last step that reads it (graph outputs: to the end; a sum's dst
 *      takes its addend's storage where the addend dies); storages get
 *      arena offsets greedily, largest first, sharing space when their
 *      lifetimes do not overlap. At run time the arena and scratch are
 *      the calling thread's workspace.
 * Activations are NHWC fp32. With bf16, convolutions compute in bf16 and
 * pass bf16 activations on (with NN_PLAN_IMAGE_F32 those reading an fp32
 * image of 1-4 channels stay fp32); pooling, resampling, PAD and DEPTH_TO_SPACE
 * keep their input's type; tensors that leave for a reference kernel or the caller
 * stay fp32 and a conversion step makes a copy in the other type where a
 * consumer needs it (assign_dtypes; docs/nn.md).
 */
#include "nn/exec.h"

#include <cpuid.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dnnl.h>

#include "kinema/util.h"
#include "nn/bf16.h"
#include "nn/narrow.h"
#include "nn/ref.h"

#define MAX_ARGS 10
#define MAX_POSTS 6
#define ALIGN 64

static size_t align_up(size_t n)
{
    return (n + ALIGN - 1) / ALIGN * ALIGN;
}

enum { ST_CONV, ST_NARROW, ST_POOL, ST_RESAMPLE, ST_MOVE, ST_REF, ST_CONVERT, ST_BAND };

typedef struct band band;
static int band_second(const band *bd);
static void band_free(band *bd);

/* How a sum post-op finds the addend in dst: dst shares the addend's
 * storage (the addend dies there), or the addend is copied in first. */
enum { SUM_NONE, SUM_IN_PLACE, SUM_COPY };
enum { ARG_TENSOR, ARG_CONST, ARG_SCRATCH };
enum { DT_F32 = 0, DT_BF16 = 1 };

typedef struct sarg {
    int arg;                /* DNNL_ARG_* */
    int kind;               /* ARG_* */
    int tensor;             /* ARG_TENSOR */
    dnnl_memory_t mem;      /* ARG_CONST: plan-owned */
    dnnl_memory_desc_t md;
} sarg;

typedef struct step {
    int kind;
    int node;               /* IR node (the chain head for ST_CONV) */
    int src;                /* tensor read as source (not ST_REF) */
    int extra[4];           /* ST_CONV: folded PAD (top, left, bottom, right) */
    int out;
    int nadd;
    int add[MAX_POSTS];     /* ST_CONV: addends of binary post-ops */
    int addidx[MAX_POSTS];  /* their post-op index */
    int sum;                /* ST_CONV: the one addend is a oneDNN sum post-op into dst
                             * (SUM_IN_PLACE or SUM_COPY), not a binary post-op */
    int rin[NN_MAXIN];      /* ST_REF: input tensors (after dtype shadows) */
    nn_narrow *nw;          /* ST_NARROW: kernel parameters and weights (plan-owned) */
    band *bd;               /* ST_BAND: the two convolutions and their band primitives (plan-owned) */
    dnnl_primitive_t prim;
    int nargs;
    sarg args[MAX_ARGS];
} step;

struct nn_plan {
    const nn_graph *g;
    nn_graph *consume;      /* nn_plan_create_consuming: g, whose weights planning frees */
    int bf16, threads;
    int portable;           /* KM_NN_PORTABLE=1: own kernels in builds without AVX-512 too */
    int image_f32;          /* NN_PLAN_IMAGE_F32 */
    int debug;              /* KM_NN_NOFUSE bits: 1 post-ops, 2 pad folding, 4 all fusion, 8 oneDNN
                             * resampling, 16 oneDNN for narrow convolutions, 32 reference PAD
                             * and DEPTH_TO_SPACE, 64 oneDNN for wide bf16 depthwise, 128 binary
                             * post-ops for every residual ADD, 256 no band fusion */
    step *steps;
    int nsteps, cap;
    int nt;                 /* graph tensors + dtype shadows */
    int *root;              /* storage root per tensor (RESHAPE aliases) */
    int *orig;              /* shadow -> the graph tensor it copies (itself otherwise) */
    int *shadow;            /* graph tensor -> its shadow in the other dtype, -1 */
    unsigned char *dt;      /* DT_* per tensor */
    size_t *off;            /* arena offset per root */
    size_t arena, scratch;
};

/* An executor keeps memory objects bound to the workspaces of the last
 * NSLOTS threads that ran it: pool threads take the jobs of a video in any
 * order, and rebinding a BlazePose executor's few hundred handles on every
 * switch cost 4 % of `kinema pose` on vtest.avi. */
#define NSLOTS 4

typedef struct binding {
    uint8_t *ws;            /* NULL: not bound yet */
    dnnl_memory_t *mems;
    dnnl_exec_arg_t *eargs;
    unsigned long last;     /* e->runs when last used */
} binding;

struct nn_exec {
    const nn_plan *p;
    uint8_t *arena, *scratch; /* in the running thread's workspace */
    dnnl_stream_t stream;
    dnnl_memory_t *mems;    /* this run's binding: per step, per arg (NULL for ARG_CONST) */
    dnnl_exec_arg_t *eargs; /* this run's binding: per step, MAX_ARGS */
    binding slot[NSLOTS];   /* memory objects bound to recent threads' workspaces */
    unsigned long runs;
    unsigned char *in_arg;  /* per step, per arg: 1 + graph input it reads, 0 */
    const float *cur_in[NN_MAXIN]; /* this run's inputs, read in place */
    int prof;               /* KM_NN_PROFILE=1 */
    dnnl_memory_t *bmem;    /* ST_BAND: per step, BAND_MEMS memory objects (handles set per call) */
};

/* ------------------------------------------------------------ platform */

static dnnl_engine_t g_engine;
static pthread_once_t g_engine_once = PTHREAD_ONCE_INIT;
static dnnl_status_t g_engine_status;

static void engine_init(void)
{
    g_engine_status = dnnl_engine_create(&g_engine, dnnl_cpu, 0);
}

static int engine(dnnl_engine_t *e)
{
    pthread_once(&g_engine_once, engine_init);
    if (g_engine_status != dnnl_success)
        return km_seterr(KM_EINTERNAL, "oneDNN: cannot create CPU engine (status %d)", g_engine_status);
    *e = g_engine;
    return 0;
}

static void (*g_omp_set)(int);
static pthread_once_t g_omp_once = PTHREAD_ONCE_INIT;

static void omp_lookup(void)
{
    void *f = dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    memcpy(&g_omp_set, &f, sizeof(f)); /* object to function pointer */
}

void nn_set_threads(int n)
{
    /* oneDNN here uses OpenMP (libgomp, loaded with libdnnl): the thread
     * count is a per-thread setting, so set it on the calling thread. */
    pthread_once(&g_omp_once, omp_lookup);
    if (g_omp_set)
        g_omp_set(n > 0 ? n : 1);
}

int nn_cpu_has_bf16(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    int amx_bf16 = (d >> 22) & 1;
    unsigned a1 = 0, b1, c1, d1;
    __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
    int avx512_bf16 = (a1 >> 5) & 1;
    return amx_bf16 || avx512_bf16;
}

#define DN(call, what)                                                                 \
    do {                                                                               \
        dnnl_status_t st_ = (call);                                                    \
        if (st_ != dnnl_success)                                                       \
            return km_seterr(KM_EINTERNAL, "oneDNN: %s failed (status %d)", what, st_); \
    } while (0)

/* ------------------------------------------------------------- fusion */

typedef struct fuse {
    int *nuse;              /* consumers per tensor */
    int *cons;              /* the consumer node when nuse == 1 */
    char *is_out;
    int *head;              /* node -> chain head node, or -1 */
    int *end;               /* head -> last node of its chain */
    char *pad_folded;       /* PAD node folded into its consumer */
} fuse;

static int spatial_pad_only(const nn_graph *g, const nn_node *n)
{
    const nn_tensor *x = &g->t[n->in[0]];
    if (x->ndim != 4 || x->data)
        return 0;
    return !n->pads[0][0] && !n->pads[0][1] && !n->pads[3][0] && !n->pads[3][1];
}

static int can_absorb(const nn_graph *g, const fuse *f, int cur_t, int *next)
{
    if (f->nuse[cur_t] != 1 || f->is_out[cur_t])
        return 0;
    int c = f->cons[cur_t];
    const nn_node *n = &g->n[c];
    if (f->head[c] >= 0)
        return 0; /* already absorbed by another chain (ADD of two convolutions) */
    if (n->op == NN_OP_ACT || n->op == NN_OP_SIGMOID) {
        *next = c;
        return 1;
    }
    if (n->op == NN_OP_ADD && n->nin == 2) {
        int other = n->in[0] == cur_t ? n->in[1] : n->in[0];
        const nn_tensor *a = &g->t[cur_t], *b = &g->t[other];
        if (other == cur_t || b->data || a->ndim != 4 || b->ndim != 4)
            return 0;
        for (int i = 0; i < 4; i++)
            if (a->shape[i] != b->shape[i])
                return 0;
        *next = c;
        return 1;
    }
    return 0;
}

static int plan_fusion(const nn_graph *g, fuse *f)
{
    size_t nt = (size_t)(g->nt ? g->nt : 1), nn = (size_t)(g->nn ? g->nn : 1);
    f->nuse = calloc(nt, sizeof(int));
    f->cons = calloc(nt, sizeof(int));
    f->is_out = calloc(nt, 1);
    f->head = malloc(nn * sizeof(int));
    f->end = malloc(nn * sizeof(int));
    f->pad_folded = calloc(nn, 1);
    if (!f->nuse || !f->cons || !f->is_out || !f->head || !f->end || !f->pad_folded)
        return km_seterr(KM_ENOMEM, "out of memory (plan)");
    for (int i = 0; i < g->nn; i++) {
        f->head[i] = -1;
        f->end[i] = i;
        for (int k = 0; k < g->n[i].nin; k++) {
            int t = g->n[i].in[k];
            if (t < 0)
                continue;
            f->nuse[t]++;
            f->cons[t] = i;
        }
    }
    for (int i = 0; i < g->nout; i++)
        f->is_out[g->out[i]] = 1;
    int *prod = malloc(nt * sizeof(int));
    if (!prod)
        return km_seterr(KM_ENOMEM, "out of memory (plan)");
    for (size_t i = 0; i < nt; i++)
        prod[i] = -1;
    for (int i = 0; i < g->nn; i++)
        prod[g->n[i].out] = i;
    const char *nf = getenv("KM_NN_NOFUSE");
    int nofuse = nf ? atoi(nf) : 0;
    for (int i = 0; i < g->nn; i++) {
        const nn_node *n = &g->n[i];
        if (n->op != NN_OP_CONV2D && n->op != NN_OP_DWCONV2D)
            continue;
        f->head[i] = i;
        if (nofuse & 4)
            continue;
        /* PAD folding */
        int p = prod[n->in[0]];
        if (!(nofuse & 2) && p >= 0 && g->n[p].op == NN_OP_PAD && spatial_pad_only(g, &g->n[p]) && f->nuse[n->in[0]] == 1 &&
            !f->is_out[n->in[0]])
            f->pad_folded[p] = 1;
        /* post-op chain */
        int cur = n->out, next, posts = n->act != NN_ACT_NONE;
        while (!(nofuse & 1) && posts + 2 <= MAX_POSTS && can_absorb(g, f, cur, &next)) {
            f->head[next] = i;
            f->end[i] = next;
            posts += 1 + (g->n[next].act != NN_ACT_NONE && g->n[next].op == NN_OP_ADD);
            cur = g->n[next].out;
        }
    }
    free(prod);
    return 0;
}

static void fuse_free(fuse *f)
{
    free(f->nuse);
    free(f->cons);
    free(f->is_out);
    free(f->head);
    free(f->end);
    free(f->pad_folded);
}

/* ------------------------------------------------------ step list */

static step *push_step(nn_plan *p)
{
    if (p->nsteps == p->cap) {
        int cap = p->cap ? p->cap * 2 : 64;
        step *s = realloc(p->steps, (size_t)cap * sizeof(step));
        if (!s)
            return NULL;
        p->steps = s;
        p->cap = cap;
    }
    step *s = &p->steps[p->nsteps++];
    memset(s, 0, sizeof(*s));
    return s;
}

static const nn_tensor *tens(const nn_plan *p, int t)
{
    return &p->g->t[p->orig[t]];
}

/* Convolutions kinema's own kernels take (narrow.h): depthwise, to one
 * output channel, or 1x1 to a few on narrow tensors; in bf16 plans also
 * wide depthwise 3x3 / 5x5 (in fp32 oneDNN's is as fast); x is the input
 * after PAD folding. */
static int own_narrow(const nn_plan *p, const nn_node *n, int x)
{
    const nn_tensor *xt = &p->g->t[x], *yt = &p->g->t[n->out];
    if (p->debug & 16 || (!nn_narrow_vectorized() && !p->portable) || xt->ndim != 4 || yt->ndim != 4 ||
        xt->shape[0] != 1 || n->stride[0] != n->stride[1])
        return 0;
    int dw = n->op == NN_OP_DWCONV2D;
    if (!dw && n->op != NN_OP_CONV2D)
        return 0;
    if (dw && yt->shape[3] != xt->shape[3])
        return 0;
    if (dw && p->bf16 && !(p->debug & 64) &&
        nn_narrow_wide_fits((int)xt->shape[3], n->kernel[0], n->kernel[1], n->dil[0], n->dil[1], n->stride[0]))
        return 1;
    if (n->stride[0] != 1 || xt->shape[3] > 16 || yt->shape[3] > 16)
        return 0;
    return nn_narrow_fits((int)xt->shape[3], dw ? 0 : (int)yt->shape[3], n->kernel[0], n->kernel[1], n->dil[0]);
}

/* Phase 1: one step per fused chain / remaining node (no oneDNN yet). */
static int describe(nn_plan *p, const fuse *f, const int *prod)
{
    const nn_graph *g = p->g;
    for (int i = 0; i < g->nn; i++) {
        const nn_node *n = &g->n[i];
        if (f->pad_folded[i] || (f->head[i] >= 0 && f->end[f->head[i]] != i))
            continue; /* folded, or inside a chain that runs at its end */
        if (n->op == NN_OP_RESHAPE && !g->t[n->in[0]].data)
            continue; /* alias */
        step *s = push_step(p);
        if (!s)
            return km_seterr(KM_ENOMEM, "out of memory (plan)");
        s->node = i;
        s->out = n->out;
        s->src = n->in[0];
        if (f->head[i] >= 0) {
            int h = f->head[i];
            const nn_node *hn = &g->n[h];
            s->kind = ST_CONV;
            s->node = h;
            s->src = hn->in[0];
            s->out = g->n[f->end[h]].out;
            int pn = prod[s->src];
            if (pn >= 0 && f->pad_folded[pn]) {
                const nn_node *pad = &g->n[pn];
                s->extra[0] = (int)pad->pads[1][0];
                s->extra[1] = (int)pad->pads[2][0];
                s->extra[2] = (int)pad->pads[1][1];
                s->extra[3] = (int)pad->pads[2][1];
                s->src = pad->in[0];
            }
            int sigmoid = 0;
            for (int cur = hn->out; cur != s->out;) { /* addends along the chain */
                const nn_node *c = &g->n[f->cons[cur]];
                if (c->op == NN_OP_ADD)
                    s->add[s->nadd++] = c->in[0] == cur ? c->in[1] : c->in[0];
                sigmoid |= c->op == NN_OP_SIGMOID;
                cur = c->out;
            }
            if (!sigmoid && s->nadd <= 1 && own_narrow(p, hn, s->src)) /* clamps around at most one add */
                s->kind = ST_NARROW;
        } else if ((n->op == NN_OP_MAXPOOL || n->op == NN_OP_AVGPOOL) && n->act == NN_ACT_NONE) {
            s->kind = ST_POOL;
        } else if (n->op == NN_OP_RESIZE_BILINEAR && n->half_pixel && !n->align_corners && !(p->debug & 8)) {
            s->kind = ST_RESAMPLE;
        } else if ((n->op == NN_OP_PAD || n->op == NN_OP_DEPTH_TO_SPACE) && !(p->debug & 32)) {
            s->kind = ST_MOVE;
        } else {
            s->kind = ST_REF;
            for (int k = 0; k < n->nin; k++)
                s->rin[k] = n->in[k];
        }
    }
    return 0;
}

/* ------------------------------------------------ dtypes and shadows */

/* Shadow of t in the other dtype, created on first use with a reorder
 * step appended to `out` (placed before the consumer). */
static int shadow_of(nn_plan *p, int t, int *id)
{
    if (p->shadow[t] >= 0) {
        *id = p->shadow[t];
        return 0;
    }
    int s = p->nt++;
    p->root[s] = s;
    p->orig[s] = t;
    p->dt[s] = p->dt[t] == DT_F32 ? DT_BF16 : DT_F32;
    p->shadow[t] = s;
    step *st = push_step(p);
    if (!st)
        return km_seterr(KM_ENOMEM, "out of memory (plan)");
    st->kind = ST_CONVERT;
    st->src = t;
    st->out = s;
    st->node = -1;
    *id = s;
    return 0;
}

/* Want tensor t in dtype want: t itself or its shadow. */
static int as_dtype(nn_plan *p, int t, int want, int *id)
{
    if (p->g->t[t].data || p->dt[t] == want) {
        *id = t;
        return 0;
    }
    return shadow_of(p, t, id);
}

/* Phase 2 (bf16 only): convolutions compute in bf16 and write bf16 unless
 * their output leaves for the caller, a RESHAPE-shared storage or a
 * reference kernel; pooling, resampling, PAD and DEPTH_TO_SPACE keep their
 * input's type;
 * every consumer that needs the other type reads a shadow made by a
 * conversion step right before it. */
static int assign_dtypes(nn_plan *p, const char *keep_f32)
{
    step *old = p->steps;
    int nold = p->nsteps;
    p->steps = NULL;
    p->nsteps = p->cap = 0;
    int rc = 0;
    for (int i = 0; i < nold && !rc; i++) {
        step s = old[i];
        switch (s.kind) {
        case ST_CONV:
            if (p->image_f32 && p->dt[s.src] == DT_F32 && tens(p, s.src)->ndim == 4 && tens(p, s.src)->shape[3] <= 4) {
                /* an image in fp32 (NN_PLAN_IMAGE_F32): rounding every
                 * pixel to bf16 moved MoveNet Lightning's keypoints up to
                 * 0.7 % of the person box (0.3 % without); its output
                 * stays fp32 (oneDNN's fp32 convolutions write fp32 only) */
                p->dt[s.out] = DT_F32;
                break;
            }
            rc = as_dtype(p, s.src, DT_BF16, &s.src);
            p->dt[s.out] = keep_f32[s.out] ? DT_F32 : DT_BF16;
            break;
        case ST_NARROW: /* reads either type */
            p->dt[s.out] = keep_f32[s.out] ? DT_F32 : DT_BF16;
            break;
        case ST_POOL:
        case ST_RESAMPLE:
        case ST_MOVE:
            if (keep_f32[s.out] && p->dt[s.src] == DT_BF16)
                rc = as_dtype(p, s.src, DT_F32, &s.src);
            p->dt[s.out] = p->dt[s.src];
            break;
        default: {
            const nn_node *n = &p->g->n[s.node];
            for (int k = 0; k < n->nin && !rc; k++)
                if (n->in[k] >= 0)
                    rc = as_dtype(p, n->in[k], DT_F32, &s.rin[k]);
        }
        }
        step *d = rc ? NULL : push_step(p);
        if (!rc && !d)
            rc = km_seterr(KM_ENOMEM, "out of memory (plan)");
        if (d)
            *d = s;
    }
    free(old);
    return rc;
}

/* --------------------------------------------------- memory descriptors */

static dnnl_data_type_t ddt(const nn_plan *p, int t)
{
    return p->dt[t] == DT_BF16 ? dnnl_bf16 : dnnl_f32;
}

static int md_nhwc(dnnl_memory_desc_t *md, const nn_tensor *t, dnnl_data_type_t dt)
{
    if (t->ndim != 4)
        return km_seterr(KM_EINTERNAL, "tensor %s is not 4-D", t->name);
    dnnl_dims_t d = {t->shape[0], t->shape[3], t->shape[1], t->shape[2]};
    DN(dnnl_memory_desc_init_by_tag(md, 4, d, dt, dnnl_nhwc), "memory desc");
    return 0;
}

static int md_of(const nn_plan *p, dnnl_memory_desc_t *md, int t)
{
    return md_nhwc(md, tens(p, t), ddt(p, t));
}

static int act_post(dnnl_post_ops_t po, nn_act a)
{
    if (a == NN_ACT_RELU)
        DN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f), "eltwise post-op");
    else if (a == NN_ACT_RELU6)
        DN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip_v2, 0.0f, 6.0f), "eltwise post-op");
    return 0;
}

/* One-time copy of constant data into a oneDNN memory of layout `dst`. */
static int const_memory(dnnl_memory_t *out, const dnnl_memory_desc_t *user, const float *data,
                        const dnnl_memory_desc_t *dst)
{
    dnnl_engine_t eng = NULL;
    int rc = engine(&eng);
    if (rc)
        return rc;
    dnnl_memory_t src = NULL, m = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t r = NULL;
    dnnl_stream_t s = NULL;
    dnnl_status_t st = dnnl_memory_create(&src, user, eng, (void *)data);
    if (st == dnnl_success)
        st = dnnl_memory_create(&m, dst, eng, DNNL_MEMORY_ALLOCATE);
    if (st == dnnl_success)
        st = dnnl_reorder_primitive_desc_create(&rpd, user, eng, dst, eng, NULL);
    if (st == dnnl_success)
        st = dnnl_primitive_create(&r, rpd);
    if (st == dnnl_success)
        st = dnnl_stream_create(&s, eng, dnnl_stream_default_flags);
    if (st == dnnl_success) {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, m}};
        st = dnnl_primitive_execute(r, s, 2, a);
        if (st == dnnl_success)
            st = dnnl_stream_wait(s);
    }
    if (s)
        dnnl_stream_destroy(s);
    if (r)
        dnnl_primitive_destroy(r);
    if (rpd)
        dnnl_primitive_desc_destroy(rpd);
    if (src)
        dnnl_memory_destroy(src);
    if (st != dnnl_success) {
        if (m)
            dnnl_memory_destroy(m);
        return km_seterr(KM_EINTERNAL, "oneDNN: weight reorder failed (status %d)", st);
    }
    *out = m;
    return 0;
}

static void add_arg(step *s, int arg, int kind, int tensor, dnnl_memory_t mem, const dnnl_memory_desc_t *md)
{
    sarg *a = &s->args[s->nargs++];
    a->arg = arg;
    a->kind = kind;
    a->tensor = tensor;
    a->mem = mem;
    a->md = *md;
}

/* Create the primitive of pd (consumed), add the scratchpad argument. */
static int finish_prim(nn_plan *p, step *s, dnnl_primitive_desc_t pd)
{
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sz = sp ? dnnl_memory_desc_get_size(sp) : 0;
    if (sz) {
        add_arg(s, DNNL_ARG_SCRATCHPAD, ARG_SCRATCH, -1, NULL, sp);
        if (sz > p->scratch)
            p->scratch = sz;
    }
    dnnl_status_t st = dnnl_primitive_create(&s->prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success)
        return km_seterr(KM_EINTERNAL, "oneDNN: primitive creation failed (status %d)", st);
    return 0;
}

static int new_attr(dnnl_primitive_attr_t *attr, dnnl_post_ops_t po)
{
    DN(dnnl_primitive_attr_create(attr), "attr create");
    DN(dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user), "scratchpad mode");
    if (po)
        DN(dnnl_primitive_attr_set_post_ops(*attr, po), "set post-ops");
    return 0;
}

/* The node after tensor `cur` in the chain headed by node `head`: its
 * single consumer (plan_fusion checked there is exactly one). */
static int chain_next(const nn_graph *g, int head, int cur)
{
    for (int i = head + 1; i < g->nn; i++)
        for (int j = 0; j < g->n[i].nin; j++)
            if (g->n[i].in[j] == cur)
                return i;
    return -1;
}

static int node_reads(const nn_graph *g, int node, int t)
{
    for (int j = 0; node >= 0 && j < g->n[node].nin; j++)
        if (g->n[node].in[j] == t)
            return 1;
    return 0;
}

/* nn_plan_create_consuming: free the IR weights of convolution `node`
 * (of step s) now that the plan has its own copy, unless another step
 * still needs them: a convolution not prepared yet, or a reference kernel
 * at run time. */
static void consume_weights(nn_plan *p, int s, int node)
{
    int t = p->g->n[node].in[1];
    if (!p->consume)
        return;
    for (int k = 0; k < p->nsteps; k++) {
        const step *o = &p->steps[k];
        int prepared = k < s && (o->kind == ST_CONV || o->kind == ST_NARROW || o->kind == ST_BAND);
        if (k == s || prepared)
            continue;
        if (node_reads(p->g, o->node, t) || (o->kind == ST_BAND && node_reads(p->g, band_second(o->bd), t)))
            return;
    }
    nn_graph_release(p->consume, t);
}

/* ------------------------------------------------ narrow convolutions */

static void clamp_act(nn_act a, float *lo, float *hi)
{
    if (a != NN_ACT_NONE && *lo < 0.0f)
        *lo = 0.0f;
    if (a == NN_ACT_RELU6 && *hi > 6.0f)
        *hi = 6.0f;
}

static void narrow_free(nn_narrow *d)
{
    if (d) {
        free((void *)d->wrep);
        free((void *)d->brep);
    }
    free(d);
}

/* Parameters, weights and bias replicated over a vector's lanes (the IR
 * copy is released after planning, model.c). Depthwise weights are
 * [1][KH][KW][C] and one-output weights [1][KH][KW][C]: the same layout;
 * pointwise weights are [CO][1][1][C]. */
static int prep_narrow(nn_plan *p, step *s)
{
    const nn_graph *g = p->g;
    const nn_node *n = &g->n[s->node];
    const nn_tensor *x = tens(p, s->src), *w = &g->t[n->in[1]], *y = &g->t[n->out];
    const nn_tensor *b = n->nin > 2 && n->in[2] >= 0 ? &g->t[n->in[2]] : NULL;
    size_t c = (size_t)x->shape[3], taps = (size_t)n->kernel[0] * (size_t)n->kernel[1];
    size_t co = (size_t)y->shape[3];
    int dw = n->op == NN_OP_DWCONV2D, pw = !dw && co > 1, wide = dw && c > 16;
    size_t lanes = wide ? (c + 15) / 16 * 16 : 16; /* floats per tap */
    nn_narrow *d = calloc(1, sizeof(*d));
    float *wrep = calloc((pw ? c : taps) * lanes, sizeof(float)), *brep = calloc(lanes, sizeof(float));
    s->nw = d;
    if (d) {
        d->wrep = wrep;
        d->brep = brep;
    }
    if (!d || !wrep || !brep)
        return km_seterr(KM_ENOMEM, "out of memory (plan)");
    for (size_t t = 0; !pw && t < taps; t++) /* wide: c lanes used, the rest stay zero */
        for (size_t l = 0; l < (wide ? c : 16); l++)
            wrep[t * lanes + l] = w->data[t * c + l % c];
    /* Wide depthwise keeps its weights in fp32 in bf16 plans too (oneDNN's
     * bf16 kernel would round them): MoveNet's first depthwise layer alone
     * moved Thunder's keypoints up to 1.3 % of the person box from fp32's
     * when its weights were rounded, 0.1-0.35 % with them whole. */
    for (size_t ci = 0; pw && ci < c; ci++)
        for (size_t l = 0; l < 16; l++)
            wrep[ci * 16 + l] = w->data[(l % co) * c + ci];
    for (size_t l = 0; b && l < (wide ? c : 16); l++)
        brep[l] = b->data[l % co];
    d->kind = wide ? NN_NARROW_DW_WIDE : dw ? NN_NARROW_DEPTHWISE : pw ? NN_NARROW_POINTWISE : NN_NARROW_ONE_OUT;
    d->co = (int)co;
    d->h = (int)x->shape[1];
    d->w = (int)x->shape[2];
    d->c = (int)c;
    d->oh = (int)y->shape[1];
    d->ow = (int)y->shape[2];
    d->kh = n->kernel[0];
    d->kw = n->kernel[1];
    d->dh = n->dil[0];
    d->dw = n->dil[1];
    d->stride = n->stride[0];
    d->pt = n->pad[0] + s->extra[0];
    d->pl = n->pad[1] + s->extra[1];
    d->in_bf16 = p->dt[s->src] == DT_BF16;
    d->out_bf16 = p->dt[s->out] == DT_BF16;
    d->lo = d->lo2 = -INFINITY;
    d->hi = d->hi2 = INFINITY;
    d->add_bf16 = s->nadd && p->dt[s->add[0]] == DT_BF16;
    clamp_act(n->act, &d->lo, &d->hi);
    int added = 0;
    for (int cur = n->out; cur != s->out;) { /* activations, at most one ADD (describe) */
        int c2 = chain_next(g, s->node, cur);
        if (c2 < 0)
            return km_seterr(KM_EINTERNAL, "plan: broken post-op chain");
        added |= g->n[c2].op == NN_OP_ADD;
        clamp_act(g->n[c2].act, added ? &d->lo2 : &d->lo, added ? &d->hi2 : &d->hi);
        cur = g->n[c2].out;
    }
    if (nn_narrow_workspace(d) > p->scratch)
        p->scratch = nn_narrow_workspace(d);
    return 0;
}

/* ------------------------------------------------------- convolution */

/* A residual ADD as a sum post-op: in bf16 plans oneDNN 2.6 runs 1x1
 * convolutions with a binary-add post-op on its slower jit_1x1 AMX kernel
 * (BlazePose full's 8x8x864->144 projection 0.045 ms instead of 0.012 ms,
 * a 4x4x288 one 0.034 instead of 0.003); with a sum into dst it keeps the
 * brgemm kernel. Needs the addend in dst's type and shape. (fp32: no
 * difference, binary stays.) */
static int wants_sum(const nn_plan *p, const step *s)
{
    if (!p->bf16 || s->nadd != 1 || p->debug & 128 || p->dt[s->add[0]] != p->dt[s->out])
        return 0;
    const nn_tensor *a = tens(p, s->add[0]), *y = &p->g->t[p->g->n[s->node].out];
    return nn_numel(a) == nn_numel(y) && a->ndim == y->ndim &&
           !memcmp(a->shape, y->shape, sizeof(int64_t) * (size_t)a->ndim);
}

static int build_posts(const nn_plan *p, step *s, dnnl_post_ops_t po)
{
    const nn_graph *g = p->g;
    const nn_node *n = &g->n[s->node];
    int rc = act_post(po, n->act), k = 0;
    for (int cur = n->out; !rc && cur != s->out;) {
        int c = chain_next(g, s->node, cur);
        if (c < 0)
            return km_seterr(KM_EINTERNAL, "plan: broken post-op chain");
        const nn_node *cn = &g->n[c];
        if (cn->op == NN_OP_ACT) {
            rc = act_post(po, cn->act);
        } else if (cn->op == NN_OP_SIGMOID) {
            if (dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_logistic, 0.0f, 0.0f) != dnnl_success)
                rc = km_seterr(KM_EINTERNAL, "oneDNN: logistic post-op failed");
        } else if (s->sum) { /* the ADD, accumulated into dst */
            k++;
            if (dnnl_post_ops_append_sum(po, 1.0f) != dnnl_success)
                rc = km_seterr(KM_EINTERNAL, "oneDNN: sum post-op failed");
            if (!rc)
                rc = act_post(po, cn->act);
        } else { /* ADD */
            dnnl_memory_desc_t md;
            rc = md_of(p, &md, s->add[k]);
            s->addidx[k++] = dnnl_post_ops_len(po);
            if (!rc && dnnl_post_ops_append_binary(po, dnnl_binary_add, &md) != dnnl_success)
                rc = km_seterr(KM_EINTERNAL, "oneDNN: binary post-op failed");
            if (!rc)
                rc = act_post(po, cn->act);
        }
        cur = cn->out;
    }
    return rc;
}

/* Primitive descriptor of step s's convolution from a source of h rows
 * to oh output rows with vertical padding pt / pb (the whole tensors: their
 * own sizes and padding; a band of rows: see band fusion); the user
 * layout of its weights in w_user and of its bias in b_md. */
static int conv_pd(nn_plan *p, step *s, int64_t h, int64_t oh, int64_t pt, int64_t pb,
                   dnnl_primitive_desc_t *pd, dnnl_memory_desc_t *w_user, dnnl_memory_desc_t *b_md)
{
    const nn_graph *g = p->g;
    const nn_node *n = &g->n[s->node];
    const nn_tensor *x = tens(p, s->src), *y = &g->t[n->out];
    int dw = n->op == NN_OP_DWCONV2D;
    int64_t cin = x->shape[3], cout = y->shape[3], kh = n->kernel[0], kw = n->kernel[1];
    dnnl_data_type_t wdt = ddt(p, s->src);
    dnnl_memory_desc_t src_md, dst_md, w_any;
    dnnl_dims_t sd = {1, cin, h, x->shape[2]}, dd = {1, cout, oh, y->shape[2]}, bd = {cout};
    DN(dnnl_memory_desc_init_by_tag(&src_md, 4, sd, ddt(p, s->src), dnnl_nhwc), "memory desc");
    DN(dnnl_memory_desc_init_by_tag(&dst_md, 4, dd, ddt(p, s->out), dnnl_nhwc), "memory desc");
    DN(dnnl_memory_desc_init_by_tag(b_md, 1, bd, dnnl_f32, dnnl_a), "bias desc");
    if (dw) {
        dnnl_dims_t wd = {cout, 1, 1, kh, kw}, ws = {1, cout, cout, kw * cout, cout};
        DN(dnnl_memory_desc_init_by_strides(w_user, 5, wd, dnnl_f32, ws), "weights desc");
        DN(dnnl_memory_desc_init_by_tag(&w_any, 5, wd, wdt, dnnl_format_tag_any), "weights desc");
    } else {
        dnnl_dims_t wd = {cout, cin, kh, kw};
        DN(dnnl_memory_desc_init_by_tag(w_user, 4, wd, dnnl_f32, dnnl_ohwi), "weights desc");
        DN(dnnl_memory_desc_init_by_tag(&w_any, 4, wd, wdt, dnnl_format_tag_any), "weights desc");
    }
    dnnl_dims_t strides = {n->stride[0], n->stride[1]}, dil = {n->dil[0] - 1, n->dil[1] - 1};
    dnnl_dims_t pl = {pt, n->pad[1] + s->extra[1]}, pr = {pb, n->pad[3] + s->extra[3]};
    dnnl_convolution_desc_t cd;
    DN(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src_md,
                                                  &w_any, b_md, &dst_md, strides, dil, pl, pr),
       "convolution desc");
    dnnl_post_ops_t po;
    DN(dnnl_post_ops_create(&po), "post-ops create");
    int rc = build_posts(p, s, po);
    dnnl_primitive_attr_t attr = NULL;
    if (!rc)
        rc = new_attr(&attr, po);
    dnnl_post_ops_destroy(po);
    if (!rc && dnnl_primitive_desc_create(pd, &cd, attr, g_engine, NULL) != dnnl_success)
        rc = km_seterr(KM_EUNSUPPORTED, "oneDNN: no convolution for node %s", n->name);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* Step s's weights and bias, reordered once into the layout pd picked. */
static int conv_consts(const nn_plan *p, const step *s, dnnl_primitive_desc_t pd, const dnnl_memory_desc_t *w_user,
                       const dnnl_memory_desc_t *b_md, dnnl_memory_t *wm, dnnl_memory_t *bm)
{
    const nn_node *n = &p->g->n[s->node];
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    *wm = *bm = NULL;
    int rc = const_memory(wm, w_user, p->g->t[n->in[1]].data, wmd);
    if (!rc)
        rc = const_memory(bm, b_md, p->g->t[n->in[2]].data, b_md);
    if (rc && *wm) {
        dnnl_memory_destroy(*wm);
        *wm = NULL;
    }
    return rc;
}

static int prim_conv(nn_plan *p, step *s)
{
    const nn_node *n = &p->g->n[s->node];
    const nn_tensor *x = tens(p, s->src), *y = &p->g->t[n->out];
    s->sum = wants_sum(p, s) ? SUM_COPY : SUM_NONE; /* plan_memory may make it in place */
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_desc_t w_user, b_md, src_md, omd;
    dnnl_memory_t wm = NULL, bm = NULL;
    int rc = conv_pd(p, s, x->shape[1], y->shape[1], n->pad[0] + s->extra[0], n->pad[2] + s->extra[2], &pd,
                     &w_user, &b_md);
    if (!rc && (rc = conv_consts(p, s, pd, &w_user, &b_md, &wm, &bm)) != 0)
        dnnl_primitive_desc_destroy(pd);
    if (rc)
        return rc;
    md_of(p, &src_md, s->src);
    md_of(p, &omd, s->out);
    add_arg(s, DNNL_ARG_SRC, ARG_TENSOR, s->src, NULL, &src_md);
    add_arg(s, DNNL_ARG_WEIGHTS, ARG_CONST, -1, wm, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0));
    add_arg(s, DNNL_ARG_BIAS, ARG_CONST, -1, bm, &b_md);
    add_arg(s, DNNL_ARG_DST, ARG_TENSOR, s->out, NULL, &omd);
    for (int i = 0; i < s->nadd && !s->sum; i++) {
        dnnl_memory_desc_t amd;
        md_of(p, &amd, s->add[i]);
        add_arg(s, DNNL_ARG_ATTR_MULTIPLE_POST_OP(s->addidx[i]) | DNNL_ARG_SRC_1, ARG_TENSOR, s->add[i], NULL, &amd);
    }
    return finish_prim(p, s, pd);
}

/* ------------------------------------------------------ band fusion */

/*
 * A 1x1 convolution whose output only feeds a depthwise convolution runs
 * band by band with it: the 1x1 convolution writes a few rows of its
 * output into a buffer that stays in L2 and the depthwise convolution
 * reads them there, so the tensor between them (12.6 MB for MoveNet
 * Thunder's 128x128x192 expansion) never goes out to memory and back.
 * The rows a band shares with the next (the depthwise kernel's overlap)
 * move to the front of the buffer instead of being computed again; rows
 * outside the tensor are zeros in the buffer, so the depthwise primitive
 * of a band has no vertical padding. oneDNN wants a primitive per shape:
 * one per row count (first, middle, last bands), sharing one copy of the
 * weights; a pair whose row counts would get different weight layouts
 * stays unfused.
 */
#define BAND_MIN_BYTES ((size_t)3 << 20) /* tensors between the two this large or more */
#define BAND_BUF_BYTES ((size_t)1 << 20) /* input rows of one band's depthwise */
#define BAND_NA 4                        /* 1x1 primitives (row counts) */
#define BAND_NB 2                        /* depthwise primitives: full and last band */
#define BAND_MEMS ((BAND_NA + BAND_NB) * 3)

typedef struct band_prim {
    int rows;                 /* source rows (1x1) or output rows (depthwise) */
    dnnl_primitive_t prim;
    dnnl_memory_desc_t md[3]; /* src, dst, scratchpad */
    size_t sp;                /* scratchpad bytes */
} band_prim;

struct band {
    step a, b;                /* the 1x1 and the depthwise convolution, as described */
    int h, w, cin, c, oh, ow, kh, stride, pt; /* depthwise geometry (h x w x c in) */
    int rout;                 /* depthwise output rows per band */
    size_t es_in, es_mid, es_out;
    int na, nb;
    band_prim pa[BAND_NA], pb[BAND_NB];
    dnnl_memory_t aw, ab, bw, bb; /* weights and biases, one copy each */
    size_t buf;               /* band buffer bytes, aligned */
};

/* Band k: depthwise output rows [oy0, oy0 + nout) from buffer rows
 * [iy0, iy0 + nin) of the tensor between; the first `keep` come from the
 * previous band, the 1x1 convolution computes rows [lo, lo + n), the
 * others lie outside the tensor (zeros). */
typedef struct band_span {
    int oy0, nout, iy0, nin, keep, lo, n;
} band_span;

static void band_span_of(const band *bd, int k, band_span *sp)
{
    int s = bd->stride, overlap = bd->kh - s; /* with the previous band, always a full one */
    sp->oy0 = k * bd->rout;
    sp->nout = bd->oh - sp->oy0 < bd->rout ? bd->oh - sp->oy0 : bd->rout;
    sp->iy0 = sp->oy0 * s - bd->pt;
    sp->nin = (sp->nout - 1) * s + bd->kh;
    sp->keep = k == 0 || overlap < 0 ? 0 : overlap;
    int lo = sp->iy0 + sp->keep, hi = sp->iy0 + sp->nin;
    sp->lo = lo < 0 ? 0 : lo;
    hi = hi > bd->h ? bd->h : hi;
    sp->n = hi > sp->lo ? hi - sp->lo : 0;
}

static int band_count(const band *bd)
{
    return (bd->oh + bd->rout - 1) / bd->rout;
}

static int band_second(const band *bd)
{
    return bd->b.node;
}

static void band_free(band *bd)
{
    if (!bd)
        return;
    for (int i = 0; i < BAND_NA + BAND_NB; i++) {
        band_prim *bp = i < BAND_NA ? &bd->pa[i] : &bd->pb[i - BAND_NA];
        if (bp->prim)
            dnnl_primitive_destroy(bp->prim);
    }
    dnnl_memory_t m[4] = {bd->aw, bd->ab, bd->bw, bd->bb};
    for (int i = 0; i < 4; i++)
        if (m[i])
            dnnl_memory_destroy(m[i]);
    free(bd);
}

/* The variant of v[0..n) for `rows`, added if new (NULL when full). */
static band_prim *band_variant(band_prim *v, int *n, int cap, int rows)
{
    for (int i = 0; i < *n; i++)
        if (v[i].rows == rows)
            return &v[i];
    if (*n == cap)
        return NULL;
    v[*n].rows = rows;
    return &v[(*n)++];
}

/* Primitive of bp for step s from h to oh rows; the first variant of a
 * convolution reorders its weights into *wm / *bm, later ones must want
 * the same layout. 1: that layout differs (leave the pair unfused). */
static int band_prim_make(nn_plan *p, step *s, band_prim *bp, int h, int oh, dnnl_memory_t *wm, dnnl_memory_t *bm)
{
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_desc_t w_user, b_md;
    int rc = conv_pd(p, s, h, oh, 0, 0, &pd, &w_user, &b_md);
    if (rc)
        return rc;
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *have = NULL;
    if (!*wm)
        rc = conv_consts(p, s, pd, &w_user, &b_md, wm, bm);
    else if (dnnl_memory_get_memory_desc(*wm, &have) != dnnl_success || !dnnl_memory_desc_equal(wmd, have))
        rc = 1;
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    bp->md[0] = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    bp->md[1] = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    if (sp)
        bp->md[2] = *sp;
    bp->sp = sp ? dnnl_memory_desc_get_size(sp) : 0;
    if (!rc && dnnl_primitive_create(&bp->prim, pd) != dnnl_success)
        rc = km_seterr(KM_EINTERNAL, "oneDNN: primitive creation failed");
    dnnl_primitive_desc_destroy(pd);
    return rc;
}

/* Every band's primitives: 0, 1 when the pair cannot be banded (a row
 * count too many, or weight layouts that differ), or an error. */
static int band_prims(nn_plan *p, band *bd)
{
    band_span sp;
    for (int k = 0; k < band_count(bd); k++) {
        band_span_of(bd, k, &sp);
        band_prim *a = sp.n ? band_variant(bd->pa, &bd->na, BAND_NA, sp.n) : NULL;
        band_prim *b = band_variant(bd->pb, &bd->nb, BAND_NB, sp.nout);
        if ((sp.n && !a) || !b)
            return 1;
        int rc = 0;
        if (a && !a->prim)
            rc = band_prim_make(p, &bd->a, a, sp.n, sp.n, &bd->aw, &bd->ab);
        if (!rc && !b->prim)
            rc = band_prim_make(p, &bd->b, b, sp.nin, sp.nout, &bd->bw, &bd->bb);
        if (rc)
            return rc;
    }
    size_t most = 0;
    for (int i = 0; i < BAND_NA + BAND_NB; i++) {
        size_t sz = i < BAND_NA ? bd->pa[i].sp : bd->pb[i - BAND_NA].sp;
        most = sz > most ? sz : most;
    }
    if (bd->buf + most > p->scratch)
        p->scratch = bd->buf + most;
    return 0;
}

/* Steps i (1x1) and i + 1 (depthwise) as a band, or NULL: the 1x1's
 * output must feed the depthwise convolution alone, without addends on
 * either, and be large enough to leave L2 (BAND_MIN_BYTES). */
static band *band_of(const nn_plan *p, const fuse *f, int i)
{
    const step *a = &p->steps[i], *b = &p->steps[i + 1];
    if (a->kind != ST_CONV || b->kind != ST_CONV || a->nadd || b->nadd || b->src != a->out)
        return NULL;
    const nn_node *na = &p->g->n[a->node], *nb = &p->g->n[b->node];
    const nn_tensor *x = tens(p, a->src), *t = tens(p, a->out), *y = tens(p, b->out);
    int t0 = p->orig[a->out];
    if (na->op != NN_OP_CONV2D || na->kernel[0] != 1 || na->kernel[1] != 1 || na->stride[0] != 1 ||
        na->stride[1] != 1 || na->pad[0] || na->pad[1] || na->pad[2] || na->pad[3] || a->extra[0] || a->extra[1] ||
        a->extra[2] || a->extra[3] || nb->op != NN_OP_DWCONV2D || nb->dil[0] != 1 || nb->stride[0] < 1 ||
        x->ndim != 4 || t->ndim != 4 || y->ndim != 4 || x->shape[0] != 1 || f->nuse[t0] != 1 || f->is_out[t0] ||
        p->root[a->out] != a->out)
        return NULL;
    size_t es_mid = p->dt[a->out] == DT_BF16 ? 2 : 4, row = (size_t)t->shape[2] * (size_t)t->shape[3] * es_mid;
    int kh = nb->kernel[0], s = nb->stride[0];
    if (row * (size_t)t->shape[1] < BAND_MIN_BYTES || row * (size_t)kh > BAND_BUF_BYTES)
        return NULL;
    int rout = (int)((BAND_BUF_BYTES / row - (size_t)kh) / (size_t)s) + 1;
    if (rout >= y->shape[1])
        return NULL; /* one band: nothing to gain */
    band *bd = calloc(1, sizeof(*bd));
    if (!bd)
        return NULL;
    bd->a = *a;
    bd->b = *b;
    bd->h = (int)t->shape[1];
    bd->w = (int)t->shape[2];
    bd->c = (int)t->shape[3];
    bd->cin = (int)x->shape[3];
    bd->oh = (int)y->shape[1];
    bd->ow = (int)y->shape[2];
    bd->kh = kh;
    bd->stride = s;
    bd->pt = nb->pad[0] + b->extra[0];
    bd->rout = rout;
    bd->es_in = p->dt[a->src] == DT_BF16 ? 2 : 4;
    bd->es_mid = es_mid;
    bd->es_out = p->dt[b->out] == DT_BF16 ? 2 : 4;
    bd->buf = align_up(((size_t)(rout - 1) * (size_t)s + (size_t)kh) * row);
    return bd;
}

/* Merge each banding pair of steps into one ST_BAND step (KM_NN_NOFUSE
 * bit 256 keeps them apart). */
static int plan_bands(nn_plan *p, const fuse *f)
{
    for (int i = 0; i + 1 < p->nsteps && !(p->debug & 256); i++) {
        band *bd = band_of(p, f, i);
        if (!bd)
            continue;
        int rc = band_prims(p, bd);
        if (rc) {
            band_free(bd);
            if (rc == KM_ENOMEM)
                return rc;
            continue; /* layouts differ, or no primitive for a band: stays two steps */
        }
        step *st = &p->steps[i];
        st->kind = ST_BAND;
        st->out = p->steps[i + 1].out;
        st->bd = bd;
        memmove(&p->steps[i + 1], &p->steps[i + 2], (size_t)(p->nsteps - i - 2) * sizeof(step));
        p->nsteps--;
    }
    return 0;
}

/* ---------------------------------------------- pooling, resampling */

static int prim_pool_resample(nn_plan *p, step *s)
{
    const nn_node *n = &p->g->n[s->node];
    dnnl_memory_desc_t src_md, dst_md;
    int rc = md_of(p, &src_md, s->src);
    if (!rc)
        rc = md_of(p, &dst_md, s->out);
    if (rc)
        return rc;
    dnnl_primitive_attr_t attr;
    if ((rc = new_attr(&attr, NULL)))
        return rc;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t ds;
    if (s->kind == ST_POOL) {
        dnnl_dims_t st = {n->stride[0], n->stride[1]}, k = {n->kernel[0], n->kernel[1]}, dil = {0, 0};
        dnnl_dims_t pl = {n->pad[0], n->pad[1]}, pr = {n->pad[2], n->pad[3]};
        dnnl_pooling_v2_desc_t pdsc;
        dnnl_alg_kind_t alg = n->op == NN_OP_MAXPOOL ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding;
        ds = dnnl_pooling_v2_forward_desc_init(&pdsc, dnnl_forward_inference, alg, &src_md, &dst_md, st, k, dil, pl, pr);
        if (ds == dnnl_success)
            ds = dnnl_primitive_desc_create(&pd, &pdsc, attr, g_engine, NULL);
    } else {
        dnnl_resampling_desc_t rd;
        ds = dnnl_resampling_forward_desc_init(&rd, dnnl_forward_inference, dnnl_resampling_linear, NULL, &src_md,
                                               &dst_md);
        if (ds == dnnl_success)
            ds = dnnl_primitive_desc_create(&pd, &rd, attr, g_engine, NULL);
    }
    dnnl_primitive_attr_destroy(attr);
    if (ds != dnnl_success)
        return km_seterr(KM_EUNSUPPORTED, "oneDNN: no %s for node %s", s->kind == ST_POOL ? "pooling" : "resampling",
                         n->name);
    add_arg(s, DNNL_ARG_SRC, ARG_TENSOR, s->src, NULL, &src_md);
    add_arg(s, DNNL_ARG_DST, ARG_TENSOR, s->out, NULL, &dst_md);
    return finish_prim(p, s, pd);
}

/* ------------------------------------------------------------- memory */

static int root_of(const nn_plan *p, int t)
{
    while (p->root[t] != t)
        t = p->root[t];
    return t;
}

/* Index of the graph input whose storage t is (itself or a RESHAPE of
 * it), -1 if none. Inputs are read in place from the caller's buffers. */
static int input_of(const nn_plan *p, int t)
{
    int r = root_of(p, t);
    for (int i = 0; i < p->g->nin; i++)
        if (root_of(p, p->g->in[i]) == r)
            return i;
    return -1;
}

typedef struct live {
    int root;
    int first, last;
    size_t size;
} live;

static int cmp_size(const void *a, const void *b)
{
    const live *x = a, *y = b;
    return x->size < y->size ? 1 : x->size > y->size ? -1 : x->root - y->root;
}

/* Tensors a step reads (activations only). */
static int step_reads(const nn_plan *p, const step *s, int *r)
{
    int n = 0;
    if (s->kind == ST_REF) {
        const nn_node *nd = &p->g->n[s->node];
        for (int k = 0; k < nd->nin; k++)
            if (nd->in[k] >= 0 && !p->g->t[nd->in[k]].data)
                r[n++] = s->rin[k];
        return n;
    }
    r[n++] = s->src;
    for (int k = 0; k < s->nadd; k++)
        r[n++] = s->add[k];
    return n;
}

/* 1 when a step after s, or the caller, reads storage root. */
static int read_after(const nn_plan *p, int root, int s)
{
    for (int i = 0; i < p->g->nout; i++)
        if (root_of(p, p->g->out[i]) == root)
            return 1;
    for (int k = s + 1; k < p->nsteps; k++) {
        int r[NN_MAXIN + MAX_POSTS], nr = step_reads(p, &p->steps[k], r);
        for (int j = 0; j < nr; j++)
            if (root_of(p, r[j]) == root)
                return 1;
    }
    return 0;
}

/* A sum post-op's dst takes its addend's storage where the addend dies at
 * that step (not a caller's input, not the convolution's own source):
 * no copy before the step, one buffer fewer. */
static void sums_in_place(nn_plan *p)
{
    for (int s = 0; s < p->nsteps; s++) {
        step *st = &p->steps[s];
        int ra = st->sum == SUM_COPY ? root_of(p, st->add[0]) : -1;
        if (ra < 0 || input_of(p, st->add[0]) >= 0 || root_of(p, st->src) == ra || read_after(p, ra, s))
            continue;
        p->root[root_of(p, st->out)] = ra;
        st->sum = SUM_IN_PLACE;
    }
}

static int plan_memory(nn_plan *p)
{
    const nn_graph *g = p->g;
    sums_in_place(p);
    int nt = p->nt;
    live *lv = calloc((size_t)(nt ? nt : 1), sizeof(live));
    if (!lv)
        return km_seterr(KM_ENOMEM, "out of memory (plan)");
    for (int t = 0; t < nt; t++) {
        lv[t].root = t;
        lv[t].first = lv[t].last = -2; /* unused */
    }
    for (int t = 0; t < nt; t++) {
        int r = root_of(p, t);
        int64_t n = nn_numel(tens(p, t));
        size_t es = p->dt[t] == DT_BF16 ? 2 : 4;
        size_t sz = align_up((size_t)(n ? n : 1) * es);
        if (sz > lv[r].size)
            lv[r].size = sz;
    }
#define TOUCH(t, pos)                                                   \
    do {                                                                \
        int r_ = root_of(p, (t));                                       \
        if (lv[r_].first == -2 || (pos) < lv[r_].first)                 \
            lv[r_].first = (pos);                                       \
        if ((pos) > lv[r_].last)                                        \
            lv[r_].last = (pos);                                        \
    } while (0)
    for (int s = 0; s < p->nsteps; s++) {
        int r[NN_MAXIN + MAX_POSTS], nr = step_reads(p, &p->steps[s], r);
        TOUCH(p->steps[s].out, s);
        for (int k = 0; k < nr; k++)
            TOUCH(r[k], s);
    }
    for (int i = 0; i < g->nout; i++)
        TOUCH(g->out[i], p->nsteps);
#undef TOUCH
    for (int i = 0; i < g->nin; i++) /* read in place from the caller: no arena space */
        lv[root_of(p, g->in[i])].first = -2;
    qsort(lv, (size_t)nt, sizeof(live), cmp_size);
    size_t total = 0;
    for (int i = 0; i < nt; i++) {
        if (lv[i].first == -2 || tens(p, lv[i].root)->data)
            continue;
        size_t off = 0;
        int moved = 1;
        while (moved) { /* lowest offset clear of every overlapping placed root */
            moved = 0;
            for (int j = 0; j < i; j++) {
                if (lv[j].first == -2 || tens(p, lv[j].root)->data)
                    continue;
                if (lv[j].first > lv[i].last || lv[i].first > lv[j].last)
                    continue;
                size_t o = p->off[lv[j].root];
                if (off < o + lv[j].size && o < off + lv[i].size) {
                    off = o + lv[j].size;
                    moved = 1;
                }
            }
        }
        p->off[lv[i].root] = off;
        if (off + lv[i].size > total)
            total = off + lv[i].size;
    }
    p->arena = total;
    free(lv);
    return 0;
}

/* --------------------------------------------------------------- plan */

static int plan_alloc(nn_plan *p, const nn_graph *g)
{
    size_t cap = (size_t)g->nt * 2 + 1; /* every tensor may get one shadow */
    p->root = malloc(cap * sizeof(int));
    p->orig = malloc(cap * sizeof(int));
    p->shadow = malloc(cap * sizeof(int));
    p->dt = calloc(cap, 1);
    p->off = calloc(cap, sizeof(size_t));
    if (!p->root || !p->orig || !p->shadow || !p->dt || !p->off)
        return km_seterr(KM_ENOMEM, "out of memory (plan)");
    p->nt = g->nt;
    for (size_t t = 0; t < cap; t++) {
        p->root[t] = p->orig[t] = (int)t;
        p->shadow[t] = -1;
    }
    for (int i = 0; i < g->nn; i++)
        if (g->n[i].op == NN_OP_RESHAPE && !g->t[g->n[i].in[0]].data)
            p->root[g->n[i].out] = g->n[i].in[0];
    return 0;
}

/* Tensors that must stay fp32: graph outputs and storages shared by a
 * RESHAPE alias. */
static char *keep_f32_set(const nn_plan *p)
{
    const nn_graph *g = p->g;
    char *k = calloc((size_t)g->nt + 1, 1);
    if (!k)
        return NULL;
    for (int i = 0; i < g->nout; i++)
        k[root_of(p, g->out[i])] = k[g->out[i]] = 1;
    for (int t = 0; t < g->nt; t++)
        if (p->root[t] != t)
            k[t] = k[root_of(p, t)] = 1;
    return k;
}

static int plan_create(nn_plan **out, const nn_graph *g, nn_graph *consume, int flags, int threads);

int nn_plan_create(nn_plan **out, const nn_graph *g, int flags, int threads)
{
    return plan_create(out, g, NULL, flags, threads);
}

int nn_plan_create_consuming(nn_plan **out, nn_graph *g, int flags, int threads)
{
    return plan_create(out, g, g, flags, threads);
}

static int plan_create(nn_plan **out, const nn_graph *g, nn_graph *consume, int flags, int threads)
{
    int bf16 = flags & NN_PLAN_BF16;
    *out = NULL;
    dnnl_engine_t eng = NULL;
    int rc = engine(&eng);
    if (rc)
        return rc;
    nn_plan *p = calloc(1, sizeof(*p));
    if (!p)
        return km_seterr(KM_ENOMEM, "out of memory (plan)");
    p->g = g;
    p->consume = consume;
    p->bf16 = bf16;
    p->image_f32 = bf16 && (flags & NN_PLAN_IMAGE_F32);
    p->threads = threads;
    p->debug = getenv("KM_NN_NOFUSE") ? atoi(getenv("KM_NN_NOFUSE")) : 0;
    p->portable = getenv("KM_NN_PORTABLE") && getenv("KM_NN_PORTABLE")[0] == '1';
    int *prod = malloc(sizeof(int) * (size_t)(g->nt ? g->nt : 1));
    char *keep = NULL;
    fuse f;
    memset(&f, 0, sizeof(f));
    rc = prod ? plan_alloc(p, g) : km_seterr(KM_ENOMEM, "out of memory (plan)");
    if (!rc) {
        for (int t = 0; t < g->nt; t++)
            prod[t] = -1;
        for (int i = 0; i < g->nn; i++)
            prod[g->n[i].out] = i;
        rc = plan_fusion(g, &f);
    }
    if (!rc)
        rc = describe(p, &f, prod);
    if (!rc && bf16) {
        keep = keep_f32_set(p);
        rc = keep ? assign_dtypes(p, keep) : km_seterr(KM_ENOMEM, "out of memory (plan)");
    }
    if (!rc)
        rc = plan_bands(p, &f);
    for (int s = 0; !rc && s < p->nsteps; s++) {
        step *st = &p->steps[s];
        if (st->kind == ST_CONV || st->kind == ST_NARROW) {
            rc = st->kind == ST_CONV ? prim_conv(p, st) : prep_narrow(p, st);
            if (!rc)
                consume_weights(p, s, st->node);
        } else if (st->kind == ST_BAND) { /* primitives made by plan_bands */
            consume_weights(p, s, st->bd->a.node);
            consume_weights(p, s, st->bd->b.node);
        } else if (st->kind == ST_POOL || st->kind == ST_RESAMPLE)
            rc = prim_pool_resample(p, st);
        else if (st->kind == ST_REF && !bf16)
            for (int k = 0; k < g->n[st->node].nin; k++)
                st->rin[k] = g->n[st->node].in[k];
    }
    if (!rc)
        rc = plan_memory(p);
    fuse_free(&f);
    free(prod);
    free(keep);
    if (rc) {
        nn_plan_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int nn_plan_bands(const nn_plan *p)
{
    int n = 0;
    for (int s = 0; s < p->nsteps; s++)
        n += p->steps[s].kind == ST_BAND;
    return n;
}

void nn_plan_free(nn_plan *p)
{
    if (!p)
        return;
    for (int s = 0; s < p->nsteps; s++) {
        step *st = &p->steps[s];
        if (st->prim)
            dnnl_primitive_destroy(st->prim);
        narrow_free(st->nw);
        band_free(st->bd);
        for (int a = 0; a < st->nargs; a++)
            if (st->args[a].kind == ARG_CONST && st->args[a].mem)
                dnnl_memory_destroy(st->args[a].mem);
    }
    free(p->steps);
    free(p->root);
    free(p->orig);
    free(p->shadow);
    free(p->dt);
    free(p->off);
    free(p);
}

/* ------------------------------------------------------------ running */

static void *tensor_ptr(const nn_exec *e, int t)
{
    const nn_plan *p = e->p;
    if (t < p->g->nt && p->g->t[t].data)
        return p->g->t[t].data;
    int in = input_of(p, t);
    if (in >= 0) /* only ever read; NULL until the first run */
        return (void *)e->cur_in[in];
    return e->arena + p->off[root_of(p, t)];
}

/* ---------------------------------------------------------- workspaces */

/* A run's activations and scratch are dead once its outputs are copied
 * out, so every executor a thread runs uses that thread's one workspace,
 * grown to the largest need, instead of an arena of its own: the nine
 * executors of `kinema pose` with all six models held 47 MB of arenas and
 * scratch, two threads' workspaces hold about 20. Freed when the thread
 * exits (the main thread's at exit). */
typedef struct workspace {
    uint8_t *buf;
    size_t size;
} workspace;

static pthread_key_t g_ws_key;
static pthread_once_t g_ws_once = PTHREAD_ONCE_INIT;
static int g_ws_ok;

static void ws_destroy(void *v)
{
    workspace *w = v;
    if (w)
        free(w->buf);
    free(w);
}

static void ws_at_exit(void)
{
    ws_destroy(pthread_getspecific(g_ws_key));
    pthread_setspecific(g_ws_key, NULL);
}

static void ws_init(void)
{
    g_ws_ok = pthread_key_create(&g_ws_key, ws_destroy) == 0 && atexit(ws_at_exit) == 0;
}

/* The calling thread's workspace, at least `need` bytes (zeroed when it
 * grows); NULL when out of memory. */
static uint8_t *thread_workspace(size_t need)
{
    pthread_once(&g_ws_once, ws_init);
    if (!g_ws_ok)
        return NULL;
    workspace *w = pthread_getspecific(g_ws_key);
    if (!w) {
        w = calloc(1, sizeof(*w));
        if (!w || pthread_setspecific(g_ws_key, w) != 0) {
            free(w);
            return NULL;
        }
    }
    if (!w->buf || w->size < need) {
        free(w->buf);
        w->size = 0;
        w->buf = aligned_alloc(ALIGN, need);
        if (!w->buf)
            return NULL;
        memset(w->buf, 0, need);
        w->size = need;
    }
    return w->buf;
}

static void free_slot(const nn_plan *p, binding *b)
{
    for (size_t i = 0; b->mems && i < (size_t)p->nsteps * MAX_ARGS; i++)
        if (b->mems[i])
            dnnl_memory_destroy(b->mems[i]);
    free(b->mems);
    free(b->eargs);
    memset(b, 0, sizeof(*b));
}

/* Slot b's memory objects, made on its first use (a single-threaded
 * caller never pays for the other slots); on failure b stays empty. */
static int make_slot(nn_exec *e, binding *b)
{
    const nn_plan *p = e->p;
    size_t n = (size_t)(p->nsteps ? p->nsteps : 1) * MAX_ARGS;
    b->mems = calloc(n, sizeof(dnnl_memory_t));
    b->eargs = calloc(n, sizeof(dnnl_exec_arg_t));
    int rc = b->mems && b->eargs ? 0 : km_seterr(KM_ENOMEM, "out of memory (executor)");
    for (int s = 0; !rc && s < p->nsteps; s++)
        for (int a = 0; !rc && a < p->steps[s].nargs; a++) {
            const sarg *sa = &p->steps[s].args[a];
            size_t k = (size_t)s * MAX_ARGS + (size_t)a;
            dnnl_memory_t m = sa->mem;
            if (sa->kind != ARG_CONST && dnnl_memory_create(&m, &sa->md, g_engine, NULL) != dnnl_success)
                rc = km_seterr(KM_EINTERNAL, "oneDNN: cannot create memory");
            else if (sa->kind != ARG_CONST)
                b->mems[k] = m;
            b->eargs[k].arg = sa->arg;
            b->eargs[k].memory = m;
        }
    if (rc)
        free_slot(p, b);
    return rc;
}

/* This run's binding for workspace ws: the slot already bound to it, or
 * the least recently used one, (re)bound: activations, then scratch;
 * inputs are bound by every run. */
static int bind_workspace(nn_exec *e, uint8_t *ws)
{
    const nn_plan *p = e->p;
    binding *b = &e->slot[0];
    for (int i = 0; i < NSLOTS && b->ws != ws; i++)
        if (e->slot[i].ws == ws || e->slot[i].last < b->last)
            b = &e->slot[i];
    b->last = ++e->runs;
    e->arena = ws;
    e->scratch = ws + align_up(p->arena);
    if (b->ws != ws) {
        int rc = b->mems ? 0 : make_slot(e, b);
        b->ws = NULL;
        for (int s = 0; !rc && s < p->nsteps; s++)
            for (int a = 0; !rc && a < p->steps[s].nargs; a++) {
                const sarg *sa = &p->steps[s].args[a];
                size_t k = (size_t)s * MAX_ARGS + (size_t)a;
                void *h = NULL;
                if (sa->kind == ARG_SCRATCH)
                    h = e->scratch;
                else if (sa->kind == ARG_TENSOR && !e->in_arg[k])
                    h = tensor_ptr(e, sa->tensor);
                if (h && dnnl_memory_set_data_handle(b->mems[k], h) != dnnl_success)
                    rc = km_seterr(KM_EINTERNAL, "oneDNN: cannot bind the workspace");
            }
        if (rc)
            return rc;
        b->ws = ws;
    }
    e->mems = b->mems;
    e->eargs = b->eargs;
    return 0;
}

/* Memory objects of the band steps' primitives (handles set per call). */
static int band_memories(nn_exec *e)
{
    const nn_plan *p = e->p;
    int any = 0;
    for (int s = 0; s < p->nsteps; s++)
        any |= p->steps[s].kind == ST_BAND;
    if (!any)
        return 0;
    e->bmem = calloc((size_t)p->nsteps * BAND_MEMS, sizeof(dnnl_memory_t));
    if (!e->bmem)
        return km_seterr(KM_ENOMEM, "out of memory (executor)");
    for (int s = 0; s < p->nsteps; s++) {
        const band *bd = p->steps[s].bd;
        for (int i = 0; p->steps[s].kind == ST_BAND && i < BAND_NA + BAND_NB; i++) {
            const band_prim *bp = i < BAND_NA ? &bd->pa[i] : &bd->pb[i - BAND_NA];
            for (int m = 0; bp->prim && m < (bp->sp ? 3 : 2); m++)
                if (dnnl_memory_create(&e->bmem[(size_t)s * BAND_MEMS + (size_t)i * 3 + (size_t)m], &bp->md[m],
                                       g_engine, NULL) != dnnl_success)
                    return km_seterr(KM_EINTERNAL, "oneDNN: cannot create memory");
        }
    }
    return 0;
}

int nn_exec_create(nn_exec **out, const nn_plan *p)
{
    *out = NULL;
    nn_exec *e = calloc(1, sizeof(*e));
    if (!e)
        return km_seterr(KM_ENOMEM, "out of memory (executor)");
    e->p = p;
    e->prof = getenv("KM_NN_PROFILE") && getenv("KM_NN_PROFILE")[0] == '1';
    size_t n = (size_t)(p->nsteps ? p->nsteps : 1) * MAX_ARGS;
    e->in_arg = calloc(n, 1);
    int rc = e->in_arg ? 0 : km_seterr(KM_ENOMEM, "out of memory (executor)");
    if (!rc && dnnl_stream_create(&e->stream, g_engine, dnnl_stream_default_flags) != dnnl_success)
        rc = km_seterr(KM_EINTERNAL, "oneDNN: cannot create stream");
    for (int s = 0; !rc && s < p->nsteps; s++)
        for (int a = 0; a < p->steps[s].nargs; a++) {
            const sarg *sa = &p->steps[s].args[a];
            if (sa->kind == ARG_TENSOR)
                e->in_arg[(size_t)s * MAX_ARGS + (size_t)a] = (unsigned char)(input_of(p, sa->tensor) + 1);
        }
    if (!rc)
        rc = band_memories(e);
    if (rc) {
        nn_exec_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

/* One band primitive: its source, destination and scratchpad handles set
 * for this call. slot: its place among the step's BAND_MEMS objects. */
static int band_exec(nn_exec *e, int s, const band_prim *bp, int slot, dnnl_memory_t w, dnnl_memory_t b, void *src,
                     void *dst)
{
    dnnl_memory_t *m = e->bmem + (size_t)s * BAND_MEMS + (size_t)slot * 3;
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, m[0]}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, m[1]},
                               {DNNL_ARG_SCRATCHPAD, m[2]}};
    if (dnnl_memory_set_data_handle(m[0], src) != dnnl_success ||
        dnnl_memory_set_data_handle(m[1], dst) != dnnl_success ||
        (bp->sp && dnnl_memory_set_data_handle(m[2], e->scratch + e->p->steps[s].bd->buf) != dnnl_success))
        return km_seterr(KM_EINTERNAL, "oneDNN: cannot bind band memory");
    if (dnnl_primitive_execute(bp->prim, e->stream, bp->sp ? 5 : 4, args) != dnnl_success)
        return km_seterr(KM_EINTERNAL, "oneDNN: execution of band step %d failed", s);
    return 0;
}

static int band_slot(const band_prim *v, int n, int rows)
{
    for (int i = 0; i < n; i++)
        if (v[i].rows == rows)
            return i;
    return -1; /* not reached: the plan made one for every band */
}

/* Step s, a 1x1 and a depthwise convolution band by band through the
 * band buffer at the start of scratch (see band fusion). */
static int band_run(nn_exec *e, int s)
{
    const band *bd = e->p->steps[s].bd;
    uint8_t *x = tensor_ptr(e, e->p->steps[s].src), *y = tensor_ptr(e, e->p->steps[s].out), *buf = e->scratch;
    size_t rin = (size_t)bd->w * (size_t)bd->cin * bd->es_in, rmid = (size_t)bd->w * (size_t)bd->c * bd->es_mid;
    size_t rout = (size_t)bd->ow * (size_t)bd->c * bd->es_out;
    band_span sp;
    int rc = 0;
    for (int k = 0; k < band_count(bd) && !rc; k++) {
        band_span_of(bd, k, &sp);
        if (sp.keep) /* the rows this band shares with the previous one */
            memmove(buf, buf + (size_t)bd->rout * (size_t)bd->stride * rmid, (size_t)sp.keep * rmid);
        for (int r = sp.keep; r < sp.nin; r++)
            if (sp.iy0 + r < 0 || sp.iy0 + r >= bd->h)
                memset(buf + (size_t)r * rmid, 0, rmid);
        int ia = band_slot(bd->pa, bd->na, sp.n), ib = band_slot(bd->pb, bd->nb, sp.nout);
        if (sp.n)
            rc = band_exec(e, s, &bd->pa[ia], ia, bd->aw, bd->ab, x + (size_t)sp.lo * rin,
                           buf + (size_t)(sp.lo - sp.iy0) * rmid);
        if (!rc)
            rc = band_exec(e, s, &bd->pb[ib], BAND_NA + ib, bd->bw, bd->bb, buf, y + (size_t)sp.oy0 * rout);
    }
    return rc;
}

static int run_step(nn_exec *e, int s)
{
    const nn_plan *p = e->p;
    const step *st = &p->steps[s];
    const nn_node *n = st->node >= 0 ? &p->g->n[st->node] : NULL;
    switch (st->kind) {
    case ST_REF: {
        const float *in[NN_MAXIN];
        for (int k = 0; k < n->nin; k++)
            in[k] = n->in[k] < 0 ? NULL : tensor_ptr(e, st->rin[k]);
        return nn_ref_node(p->g, n, in, tensor_ptr(e, st->out));
    }
    case ST_BAND:
        return band_run(e, s);
    case ST_NARROW:
        nn_narrow_run(st->nw, tensor_ptr(e, st->src), st->nadd ? tensor_ptr(e, st->add[0]) : NULL,
                      tensor_ptr(e, st->out), e->scratch);
        return 0;
    case ST_MOVE: { /* data movement in either type */
        size_t es = p->dt[st->out] == DT_BF16 ? 2 : 4;
        if (n->op == NN_OP_PAD)
            nn_pad_copy(p->g, n, tensor_ptr(e, st->src), tensor_ptr(e, st->out), es);
        else
            nn_d2s_copy(p->g, n, tensor_ptr(e, st->src), tensor_ptr(e, st->out), es);
        return 0;
    }
    case ST_CONVERT: {
        size_t count = (size_t)nn_numel(tens(p, st->out));
        if (p->dt[st->out] == DT_BF16)
            nn_f32_to_bf16_n(tensor_ptr(e, st->src), tensor_ptr(e, st->out), count);
        else
            nn_bf16_to_f32_n(tensor_ptr(e, st->src), tensor_ptr(e, st->out), count);
        return 0;
    }
    default: {
        if (st->sum == SUM_COPY) /* the addend into dst, for the sum post-op */
            memcpy(tensor_ptr(e, st->out), tensor_ptr(e, st->add[0]),
                   (size_t)nn_numel(tens(p, st->out)) * (p->dt[st->out] == DT_BF16 ? 2 : 4));
        dnnl_status_t ds = dnnl_primitive_execute(st->prim, e->stream, st->nargs, e->eargs + (size_t)s * MAX_ARGS);
        if (ds != dnnl_success)
            return km_seterr(KM_EINTERNAL, "oneDNN: execution of step %d failed (status %d)", s, ds);
        return 0;
    }
    }
}

/* KM_NN_PROFILE=1: time every step on stderr (diagnosis only). */
static void profile_line(const nn_exec *e, int s, uint64_t t0)
{
    const nn_plan *p = e->p;
    const step *st = &p->steps[s];
    static const char *const kinds[] = {"conv", "narrow", "pool", "resample", "move", "ref", "convert", "band"};
    const nn_node *n = st->node >= 0 ? &p->g->n[st->node] : NULL;
    char shape[64] = "-";
    const nn_tensor *x = n ? &p->g->t[n->in[0]] : NULL, *y = n ? &p->g->t[st->kind == ST_BAND ? st->out : n->out] : NULL;
    double gf = n ? nn_node_flops(p->g, n) / 1e9 : 0.0;
    if (st->kind == ST_BAND) /* the 1x1's shape in, the depthwise's out */
        gf += nn_node_flops(p->g, &p->g->n[band_second(st->bd)]) / 1e9;
    if (n && x->ndim == 4 && y->ndim == 4) {
        snprintf(shape, sizeof shape, "%lldx%lldx%lld k%dx%d s%d -> %lldx%lldx%lld",
                 (long long)x->shape[1], (long long)x->shape[2], (long long)x->shape[x->ndim - 1], n->kernel[0],
                 n->kernel[1], n->stride[0], (long long)y->shape[1], (long long)y->shape[2],
                 (long long)y->shape[y->ndim - 1]);
    }
    fprintf(stderr, "step %3d %-8s %-18s %-40s %s %8.3f ms %7.3f GF\n", s, kinds[st->kind],
            n ? nn_op_name(n->op) : "-", shape, p->dt[st->out] == DT_BF16 ? "bf16" : "f32 ",
            (double)(km_now_ns() - t0) / 1e6, gf);
}

int nn_exec_run(nn_exec *e, const float *const *inputs, float *const *outputs)
{
    const nn_plan *p = e->p;
    const nn_graph *g = p->g;
    int prof = e->prof;
    size_t need = align_up(p->arena) + align_up(p->scratch);
    uint8_t *ws = thread_workspace(need ? need : ALIGN);
    if (!ws)
        return km_seterr(KM_ENOMEM, "out of memory (workspace of %zu bytes)", need);
    int brc = bind_workspace(e, ws);
    if (brc)
        return brc;
    for (int i = 0; i < g->nin; i++)
        e->cur_in[i] = inputs[i];
    for (size_t k = 0; k < (size_t)p->nsteps * MAX_ARGS; k++)
        if (e->in_arg[k] && dnnl_memory_set_data_handle(e->mems[k], (void *)inputs[e->in_arg[k] - 1]) != dnnl_success)
            return km_seterr(KM_EINTERNAL, "oneDNN: cannot bind input %d", e->in_arg[k] - 1);
    for (int s = 0; s < p->nsteps; s++) {
        uint64_t t0 = prof ? km_now_ns() : 0;
        int rc = run_step(e, s);
        if (rc)
            return rc;
        if (prof) {
            dnnl_stream_wait(e->stream);
            profile_line(e, s, t0);
        }
    }
    if (dnnl_stream_wait(e->stream) != dnnl_success)
        return km_seterr(KM_EINTERNAL, "oneDNN: stream wait failed");
    for (int i = 0; i < g->nout; i++)
        memcpy(outputs[i], tensor_ptr(e, g->out[i]), (size_t)nn_numel(&g->t[g->out[i]]) * sizeof(float));
    return 0;
}

void nn_exec_free(nn_exec *e)
{
    if (!e)
        return;
    for (int s = 0; s < NSLOTS; s++)
        free_slot(e->p, &e->slot[s]);
    if (e->stream)
        dnnl_stream_destroy(e->stream);
    for (size_t i = 0; e->bmem && i < (size_t)e->p->nsteps * BAND_MEMS; i++)
        if (e->bmem[i])
            dnnl_memory_destroy(e->bmem[i]);
    free(e->bmem);
    free(e->in_arg);
    free(e);
}
