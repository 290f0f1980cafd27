/*
 * model.c - the public km_model API (kinema/nn.h): load, clone, run.
 *
 * Why: glues a loader (tflite.c / tfjs.c), the IR and one of two
 * executors: the oneDNN plan (exec.c) or, for tests, the reference
 * kernels run node by node with one buffer per tensor.
 *
 * Ownership: a loaded model holds a reference to a shared graph and plan
 * (loading the same file with the same options again takes another
 * reference instead of a second copy: three BlazePose variants each load
 * the same detector); a clone borrows both from its source (which must
 * outlive it) and owns only its executor.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/nn.h"
#include "nn/exec.h"
#include "nn/graph.h"
#include "nn/loaders.h"
#include "nn/ref.h"

#define MAX_MODEL_FILE ((size_t)512 << 20)

/* A loaded graph and its plan, shared by every km_model_load of the same
 * file and options (the key). */
typedef struct shared {
    char *key;
    nn_graph *g;
    nn_plan *plan;
    int refs;
    struct shared *next;
} shared;

static pthread_mutex_t g_shared_mu = PTHREAD_MUTEX_INITIALIZER;
static shared *g_shared;

struct km_model {
    nn_graph *g;
    nn_plan *plan;
    shared *sh;             /* loaded models: their reference; clones: NULL */
    int use_reference;
    int threads;
    km_tensor_info in[NN_MAXIN], out[NN_MAXIN];
    nn_exec *exec;          /* oneDNN path */
    float **ref_buf;        /* reference path: one buffer per tensor */
};

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int load_graph(nn_graph *g, const char *path, const km_model_opts *o)
{
    const char *const *outs = o ? o->outputs : NULL;
    int nouts = o ? o->noutputs : 0;
    if (ends_with(path, ".json"))
        return nn_load_tfjs(g, path, outs, nouts, o ? o->input_shape : NULL, o ? o->input_ndim : 0);
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = km_read_file(path, MAX_MODEL_FILE, &data, &len);
    if (rc)
        return rc;
    rc = nn_load_tflite(g, data, len, outs, nouts);
    free(data);
    return rc;
}

static void fill_info(km_tensor_info *ti, const nn_tensor *t)
{
    ti->name = t->name;
    ti->ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++)
        ti->shape[i] = t->shape[i];
}

static int ref_alloc(km_model *m)
{
    const nn_graph *g = m->g;
    m->ref_buf = calloc((size_t)(g->nt ? g->nt : 1), sizeof(float *));
    if (!m->ref_buf)
        return km_seterr(KM_ENOMEM, "out of memory");
    for (int i = 0; i < g->nt; i++) {
        if (g->t[i].data)
            continue;
        int64_t n = nn_numel(&g->t[i]);
        m->ref_buf[i] = calloc((size_t)(n ? n : 1), sizeof(float));
        if (!m->ref_buf[i])
            return km_seterr(KM_ENOMEM, "out of memory (tensor %s)", g->t[i].name);
    }
    return 0;
}

static void ref_free(km_model *m)
{
    if (!m->ref_buf)
        return;
    for (int i = 0; i < m->g->nt; i++)
        free(m->ref_buf[i]);
    free(m->ref_buf);
    m->ref_buf = NULL;
}

/* The executor (arena, oneDNN memory objects) is made on the first run:
 * a model that is only cloned from (the pose layer's loaded networks)
 * never holds one. */
static int make_executor(km_model *m)
{
    if (m->use_reference)
        return m->ref_buf ? 0 : ref_alloc(m);
    return m->exec ? 0 : nn_exec_create(&m->exec, m->plan);
}

/* Refuse graphs whose activations (all of them, as the reference path
 * allocates) would exceed MAX_ACTIVATIONS floats: a hostile file must not
 * make kinema allocate without bound. */
#define MAX_ACTIVATIONS ((int64_t)1 << 28) /* 1 GiB; BlazePose heavy needs 51 M */
static int check_activation_size(const nn_graph *g, const char *path)
{
    int64_t total = 0;
    for (int i = 0; i < g->nt; i++) {
        if (g->t[i].data)
            continue;
        total += nn_numel(&g->t[i]);
        if (total > MAX_ACTIVATIONS)
            return km_seterr(KM_ENOMEM, "%s: activations exceed %lld values", path, (long long)MAX_ACTIVATIONS);
    }
    return 0;
}

static int resolve_bf16(km_precision p)
{
    if (p == KM_PREC_FP32)
        return 0;
    return nn_cpu_has_bf16();
}

/* glibc raises its mmap threshold as mmapped chunks are freed (up to 32
 * MB), after which loading's temporaries (file bytes, fp16 decodes, IR
 * weights: about three times the model) land on the heap between the
 * long-lived oneDNN weights and are never returned: all four BlazePose
 * files loaded at once held 166 MB instead of 100. So while any load is in
 * progress the threshold is 256 KB (big buffers get their own mappings and
 * go back to the system when freed); outside loads it is 32 MB, glibc's
 * own ceiling, so per-frame buffers (a 768x576 RGB frame is 1.3 MB) are
 * reused from the heap instead of being mapped and faulted in every frame
 * (3 % of `kinema pose` on vtest.avi). Process-wide settings; the heap
 * left free by a load is returned by malloc_trim at its end. */
static pthread_mutex_t g_loads_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_loads;

static void loading(int delta)
{
    pthread_mutex_lock(&g_loads_mu);
    g_loads += delta;
    if (g_loads == (delta > 0 ? 1 : 0)) {
        mallopt(M_MMAP_THRESHOLD, delta > 0 ? 256 * 1024 : 32 * 1024 * 1024);
        /* glibc's dynamic mode keeps twice the mmap threshold free at the
         * top of the heap before trimming it; setting a threshold turns
         * that off, so restore it */
        mallopt(M_TRIM_THRESHOLD, delta > 0 ? 128 * 1024 : 64 * 1024 * 1024);
    }
    pthread_mutex_unlock(&g_loads_mu);
}

/* Everything that changes what a load produces, as one string. The file
 * is read once while any model of it is alive (a changed file on disk is
 * seen after the last one is freed). */
static char *share_key(const char *path, const km_model_opts *o, int bf16)
{
    int ndim = o && o->input_shape && o->input_ndim > 0 && o->input_ndim <= KM_NN_MAXDIM ? o->input_ndim : 0;
    size_t n = strlen(path) + 64 + (size_t)ndim * 24;
    for (int i = 0; o && o->outputs && i < o->noutputs; i++)
        n += strlen(o->outputs[i] ? o->outputs[i] : "") + 1;
    char *k = malloc(n);
    if (!k)
        return NULL;
    size_t at = (size_t)snprintf(k, n, "%s|%d|%d|%d|%d|", path, bf16, o ? o->use_reference : 0,
                                 o && o->threads > 0 ? o->threads : 1, /* primitives are made for a thread count */
                                 bf16 && o && o->image_fp32); /* no effect in fp32 */
    for (int i = 0; o && o->outputs && i < o->noutputs && at < n; i++)
        at += (size_t)snprintf(k + at, n - at, "%s\n", o->outputs[i] ? o->outputs[i] : "");
    for (int i = 0; i < ndim && at < n; i++)
        at += (size_t)snprintf(k + at, n - at, "%lld,", (long long)o->input_shape[i]);
    return k;
}

static void shared_free(shared *sh)
{
    if (!sh)
        return;
    nn_plan_free(sh->plan);
    if (sh->g) {
        nn_graph_free(sh->g);
        free(sh->g);
    }
    free(sh->key);
    free(sh);
}

/* Parse the file and plan it (the slow part of a load). */
static int shared_build(shared *sh, const char *path, const km_model_opts *opts, int bf16)
{
    int use_ref = opts ? opts->use_reference : 0;
    int rc = load_graph(sh->g, path, opts);
    if (!rc && (sh->g->nin < 1 || sh->g->nout < 1))
        rc = km_seterr(KM_EFORMAT, "%s: graph has no inputs or outputs", path);
    if (!rc)
        rc = check_activation_size(sh->g, path);
    if (!rc && !use_ref) {
        nn_set_threads(opts && opts->threads > 0 ? opts->threads : 1);
        /* the plan keeps reordered copies of the convolution weights and
         * frees the IR's as it goes */
        int flags = (bf16 ? NN_PLAN_BF16 : 0) | (opts && opts->image_fp32 ? NN_PLAN_IMAGE_F32 : 0);
        rc = nn_plan_create_consuming(&sh->plan, sh->g, flags, opts && opts->threads > 0 ? opts->threads : 1);
    }
    /* loading freed the file bytes, fp16 decodes and the IR weights copies
     * (tens of MB): give the pages back to the system (glibc) */
    malloc_trim(0);
    return rc;
}

/* A reference to the shared graph and plan of (path, opts): an existing
 * one, or a new one built outside the lock (two threads loading the same
 * file at once may both build; each then holds its own). */
static int shared_get(shared **out, const char *path, const km_model_opts *opts, int bf16)
{
    *out = NULL;
    char *key = share_key(path, opts, bf16);
    if (!key)
        return km_seterr(KM_ENOMEM, "out of memory");
    pthread_mutex_lock(&g_shared_mu);
    for (shared *s = g_shared; s; s = s->next)
        if (strcmp(s->key, key) == 0) {
            s->refs++;
            *out = s;
            break;
        }
    pthread_mutex_unlock(&g_shared_mu);
    if (*out) {
        free(key);
        return 0;
    }
    shared *sh = calloc(1, sizeof(*sh));
    if (!sh || !(sh->g = calloc(1, sizeof(nn_graph)))) {
        free(sh);
        free(key);
        return km_seterr(KM_ENOMEM, "out of memory");
    }
    sh->key = key;
    sh->refs = 1;
    int rc = shared_build(sh, path, opts, bf16);
    if (rc) {
        shared_free(sh);
        return rc;
    }
    pthread_mutex_lock(&g_shared_mu);
    sh->next = g_shared;
    g_shared = sh;
    pthread_mutex_unlock(&g_shared_mu);
    *out = sh;
    return 0;
}

static void shared_put(shared *sh)
{
    pthread_mutex_lock(&g_shared_mu);
    int last = --sh->refs == 0;
    if (last)
        for (shared **p = &g_shared; *p; p = &(*p)->next)
            if (*p == sh) {
                *p = sh->next;
                break;
            }
    pthread_mutex_unlock(&g_shared_mu);
    if (last)
        shared_free(sh);
}

int km_model_load(km_model **out, const char *path, const km_model_opts *opts)
{
    *out = NULL;
    if (!path)
        return km_seterr(KM_EINVAL, "km_model_load: no path");
    if (opts && opts->precision == KM_PREC_BF16 && !nn_cpu_has_bf16())
        return km_seterr(KM_EUNSUPPORTED, "bf16 requested but the CPU has neither AMX nor AVX512-BF16");
    km_model *m = calloc(1, sizeof(*m));
    if (!m)
        return km_seterr(KM_ENOMEM, "out of memory");
    m->use_reference = opts ? opts->use_reference : 0;
    m->threads = opts && opts->threads > 0 ? opts->threads : 1;
    loading(1);
    int rc = shared_get(&m->sh, path, opts, resolve_bf16(opts ? opts->precision : KM_PREC_AUTO));
    loading(-1);
    if (rc) {
        free(m);
        return rc;
    }
    m->g = m->sh->g;
    m->plan = m->sh->plan;
    for (int i = 0; i < m->g->nin; i++)
        fill_info(&m->in[i], &m->g->t[m->g->in[i]]);
    for (int i = 0; i < m->g->nout; i++)
        fill_info(&m->out[i], &m->g->t[m->g->out[i]]);
    *out = m;
    return 0;
}

int km_model_clone(km_model **out, const km_model *src)
{
    *out = NULL;
    km_model *m = calloc(1, sizeof(*m));
    if (!m)
        return km_seterr(KM_ENOMEM, "out of memory");
    *m = *src;
    m->sh = NULL;
    m->exec = NULL;
    m->ref_buf = NULL;
    int rc = make_executor(m);
    if (rc) {
        km_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int km_model_ninputs(const km_model *m) { return m->g->nin; }
int km_model_noutputs(const km_model *m) { return m->g->nout; }

const km_tensor_info *km_model_input(const km_model *m, int i)
{
    return i >= 0 && i < m->g->nin ? &m->in[i] : NULL;
}

const km_tensor_info *km_model_output(const km_model *m, int i)
{
    return i >= 0 && i < m->g->nout ? &m->out[i] : NULL;
}

int km_model_find_output(const km_model *m, const char *name)
{
    for (int i = 0; m && name && i < m->g->nout; i++)
        if (strcmp(m->out[i].name, name) == 0)
            return i;
    return -1;
}

static int ref_run(km_model *m, const float *const *inputs, float *const *outputs)
{
    const nn_graph *g = m->g;
    for (int i = 0; i < g->nin; i++)
        memcpy(m->ref_buf[g->in[i]], inputs[i], (size_t)nn_numel(&g->t[g->in[i]]) * sizeof(float));
    for (int i = 0; i < g->nn; i++) {
        const nn_node *n = &g->n[i];
        const float *in[NN_MAXIN];
        for (int k = 0; k < n->nin; k++)
            in[k] = n->in[k] < 0 ? NULL : g->t[n->in[k]].data ? g->t[n->in[k]].data : m->ref_buf[n->in[k]];
        int rc = nn_ref_node(g, n, in, m->ref_buf[n->out]);
        if (rc)
            return rc;
    }
    for (int i = 0; i < g->nout; i++)
        memcpy(outputs[i], m->ref_buf[g->out[i]], (size_t)nn_numel(&g->t[g->out[i]]) * sizeof(float));
    return 0;
}

int km_model_run(km_model *m, const float *const *inputs, float *const *outputs)
{
    if (!m || !inputs || !outputs)
        return km_seterr(KM_EINVAL, "km_model_run: NULL argument");
    nn_set_threads(m->threads);
    int rc = make_executor(m);
    if (rc)
        return rc;
    if (m->use_reference)
        return ref_run(m, inputs, outputs);
    return nn_exec_run(m->exec, inputs, outputs);
}

double km_model_flops(const km_model *m)
{
    return nn_graph_flops(m->g);
}

void km_model_free(km_model *m)
{
    if (!m)
        return;
    nn_exec_free(m->exec);
    ref_free(m);
    if (m->sh)
        shared_put(m->sh);
    free(m);
}
