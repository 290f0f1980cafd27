/*
 * pipeline.c - several pose models over a stream of frames, in parallel.
 *
 * Parallelism is across inferences, never inside one (one thread per
 * inference; on a busy 2-core box that beats intra-op threading): in each
 * batch of frames, a model with video state (BlazePose ROI tracking,
 * MoveNet crop tracking) walks the batch in order as one task, and a
 * stateless model (MultiPose, or any model on stills) runs one task per
 * frame on its own estimator. After the batch, each frame's results are
 * fused across models and given track ids, in frame order. submit/collect
 * let the caller decode the next batch while this one runs (one batch in
 * flight: a tracking model's next batch needs this one's state).
 */
#include <stdlib.h>
#include <string.h>

#include "pose/pose_priv.h"

#define PIPE_MAX_MODELS 8
#define PIPE_MAX_BATCH 32

typedef struct job {
    km_pose_estimator *est;
    const km_image *const *frames;
    km_pose_result **res;        /* res[i]: result of frames[i] */
    int n, track;
    int rc;
    char err[256];
} job;

struct km_pose_pipeline {
    km_pose_pipeline_opts o;
    km_pose_kind kinds[PIPE_MAX_MODELS];
    float weights[PIPE_MAX_MODELS];
    int nk, batch;
    km_pose_net *nets[PIPE_MAX_MODELS];
    km_pose_estimator *est[PIPE_MAX_MODELS][PIPE_MAX_BATCH];
    int nest[PIPE_MAX_MODELS];
    km_pose_result *raw;          /* batch x nk */
    job jobs[PIPE_MAX_MODELS * PIPE_MAX_BATCH];
    km_pose_result *ptrs[PIPE_MAX_MODELS][PIPE_MAX_BATCH]; /* into raw */
    const km_image *frames[PIPE_MAX_BATCH];  /* the batch in flight */
    int inflight, inflight_n, inflight_nj, submit_rc;
    int collected_n;              /* frames of the batch last collected */
    int borrowed;                 /* nets[] belong to the caller */
    km_pool *pool;
    km_pose_tracker *tracker;
    km_kp_format format;
};

static int stateful(const km_pose_pipeline *p, int k)
{
    return p->o.track && p->kinds[k] != KM_POSE_MOVENET_MULTIPOSE;
}

void km_pose_pipeline_free(km_pose_pipeline *p)
{
    if (!p)
        return;
    km_pool_destroy(p->pool); /* finishes a batch still in flight */
    for (int k = 0; k < p->nk; k++) {
        for (int i = 0; i < p->nest[k]; i++)
            km_pose_estimator_free(p->est[k][i]);
        if (!p->borrowed)
            km_pose_net_free(p->nets[k]);
    }
    km_pose_tracker_free(p->tracker);
    free(p->raw);
    free(p);
}

/* Load each model once (or take the caller's), with one estimator; more
 * are made on first use. */
static int setup_models(km_pose_pipeline *p)
{
    km_pose_opts po;
    memset(&po, 0, sizeof po);
    po.precision = p->o.precision;
    p->borrowed = p->o.nets != NULL;
    for (int k = 0; k < p->nk; k++) {
        int rc = 0;
        if (p->borrowed)
            p->nets[k] = p->o.nets[k];
        else
            rc = km_pose_net_load(&p->nets[k], p->kinds[k], p->o.models_dir, &po);
        if (!rc && (!p->nets[k] || km_pose_net_kind(p->nets[k]) != p->kinds[k]))
            rc = km_seterr(KM_EINVAL, "pose pipeline: model %d is not a loaded %s", k,
                           km_pose_kind_name(p->kinds[k]));
        if (rc)
            return rc;
        if ((rc = km_pose_estimator_new(&p->est[k][0], p->nets[k])))
            return rc;
        p->nest[k] = 1;
    }
    return 0;
}

/* Make sure model k has `need` estimators (stateless models run one per
 * frame of a batch). */
static int ensure_estimators(km_pose_pipeline *p, int k, int need)
{
    while (p->nest[k] < need) {
        int rc = km_pose_estimator_new(&p->est[k][p->nest[k]], p->nets[k]);
        if (rc)
            return rc;
        p->nest[k]++;
    }
    return 0;
}

int km_pose_pipeline_new(km_pose_pipeline **out, const km_pose_pipeline_opts *o)
{
    *out = NULL;
    if (!o || o->nkinds <= 0 || o->nkinds > PIPE_MAX_MODELS || !o->kinds)
        return km_seterr(KM_EINVAL, "pose pipeline: need 1..%d models", PIPE_MAX_MODELS);
    km_pose_pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return km_seterr(KM_ENOMEM, "pose pipeline: out of memory");
    p->o = *o;
    p->nk = o->nkinds;
    int all33 = 1, any33 = 0;
    for (int k = 0; k < p->nk; k++) {
        p->kinds[k] = o->kinds[k];
        p->weights[k] = o->weights ? o->weights[k] : 1.0f;
        all33 &= km_pose_kind_format(o->kinds[k]) == KM_KP_BLAZE33;
        any33 |= km_pose_kind_format(o->kinds[k]) == KM_KP_BLAZE33;
    }
    p->o.kinds = p->kinds;
    p->o.weights = p->weights;
    if (p->o.fuse.kp_threshold <= 0)
        p->o.fuse.kp_threshold = 0.3f;
    if (p->o.fuse.match_threshold <= 0)
        p->o.fuse.match_threshold = 0.3f;
    p->format = all33 || (any33 && p->o.fuse.format == KM_KP_BLAZE33) ? KM_KP_BLAZE33
                                                                       : KM_KP_COCO17;
    p->o.fuse.format = p->format;
    p->pool = km_pool_create(o->threads);
    int rc = p->pool ? 0 : KM_ENOMEM;
    if (rc == 0) {
        int t = km_pool_size(p->pool);
        p->batch = t < 2 ? 2 : t > PIPE_MAX_BATCH ? PIPE_MAX_BATCH : t;
        p->raw = calloc((size_t)p->batch * (size_t)p->nk, sizeof *p->raw);
        p->tracker = km_pose_tracker_new(o->track ? 30 : 1, 0.2f);
        if (!p->raw || !p->tracker)
            rc = km_seterr(KM_ENOMEM, "pose pipeline: out of memory");
    }
    if (rc == 0)
        rc = setup_models(p);
    if (rc) {
        km_pose_pipeline_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

km_kp_format km_pose_pipeline_format(const km_pose_pipeline *p)
{
    return p->format;
}

int km_pose_pipeline_batch(const km_pose_pipeline *p)
{
    return p->batch;
}

static void run_job(void *arg)
{
    job *j = arg;
    j->rc = 0;
    for (int i = 0; i < j->n && j->rc == 0; i++)
        j->rc = km_pose_estimate(j->est, j->frames[i], j->track, j->res[i]);
    if (j->rc)
        snprintf(j->err, sizeof j->err, "%s", km_errmsg());
}

int km_pose_pipeline_submit(km_pose_pipeline *p, const km_image *const *frames, int n)
{
    if (p->inflight)
        return km_seterr(KM_EINVAL, "pose pipeline: a batch is already in flight");
    p->collected_n = 0; /* raw results are about to be overwritten */
    if (n <= 0 || n > p->batch)
        return km_seterr(KM_EINVAL, "pose pipeline: %d frames, batch is 1..%d", n, p->batch);
    for (int k = 0; k < p->nk; k++) {
        int rc = ensure_estimators(p, k, stateful(p, k) ? 1 : n);
        if (rc)
            return rc;
    }
    for (int i = 0; i < n; i++)
        p->frames[i] = frames[i];
    for (int k = 0; k < p->nk; k++)
        for (int i = 0; i < n; i++)
            p->ptrs[k][i] = &p->raw[(size_t)i * (size_t)p->nk + (size_t)k];
    int nj = 0;
    for (int k = 0; k < p->nk; k++) {
        int seq = stateful(p, k);
        for (int i = 0; i < (seq ? 1 : n); i++) {
            job *j = &p->jobs[nj++];
            j->est = p->est[k][seq ? 0 : i];
            j->frames = p->frames + (seq ? 0 : i);
            j->res = &p->ptrs[k][seq ? 0 : i];
            j->n = seq ? n : 1;
            j->track = p->o.track;
            j->err[0] = 0;
            j->rc = 0;
        }
    }
    int rc = 0;
    for (int i = 0; i < nj && rc == 0; i++)
        rc = km_pool_submit(p->pool, run_job, &p->jobs[i]);
    p->inflight = 1;
    p->inflight_n = n;
    p->inflight_nj = nj;
    p->submit_rc = rc;
    return 0;
}

int km_pose_pipeline_collect(km_pose_pipeline *p, km_pose_result *results)
{
    if (!p->inflight)
        return km_seterr(KM_EINVAL, "pose pipeline: no batch in flight");
    km_pool_wait(p->pool);
    p->inflight = 0;
    int rc = p->submit_rc, n = p->inflight_n;
    p->collected_n = 0;
    if (rc)
        return rc;
    for (int i = 0; i < p->inflight_nj; i++)
        if (p->jobs[i].rc)
            return km_seterr(p->jobs[i].rc, "%s", p->jobs[i].err);
    for (int i = 0; i < n; i++) {
        const km_pose_result *in[PIPE_MAX_MODELS];
        for (int k = 0; k < p->nk; k++)
            in[k] = p->ptrs[k][i];
        if (p->nk == 1)
            results[i] = *in[0];
        else if ((rc = km_pose_fuse(in, p->nk, p->weights, &p->o.fuse, &results[i])))
            return rc;
        if (p->o.track)
            km_pose_tracker_update(p->tracker, &results[i]);
        else
            for (int q = 0; q < results[i].n; q++)
                results[i].p[q].id = q;
    }
    p->collected_n = n;
    return 0;
}

const km_pose_result *km_pose_pipeline_model_result(const km_pose_pipeline *p, int i, int k)
{
    if (p->inflight || i < 0 || i >= p->collected_n || k < 0 || k >= p->nk)
        return NULL;
    return p->ptrs[k][i];
}

int km_pose_pipeline_run(km_pose_pipeline *p, const km_image *const *frames, int n,
                         km_pose_result *results)
{
    if (n <= 0)
        return 0;
    int rc = km_pose_pipeline_submit(p, frames, n);
    return rc ? rc : km_pose_pipeline_collect(p, results);
}
