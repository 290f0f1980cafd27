/*
 * capture_pose.c - the pose step of the capture worker for one camera's
 * chunk: decode, every model of the session, ensemble fusion, 2D files.
 *
 * Why here and not in pose/: the compute layer knows nothing of sessions
 * or file layouts; this file maps its results onto the seed's files:
 *   2D/points/{model}/{frame}_{chunk}.npy              [K,2] float64 pixels
 *   2D/confidence/{model}/{frame}_{chunk}_confidence.npy [K] float64
 *   ensemble/{frame}_{chunk}.npy, {frame}_{chunk}_confidence.npy
 *   ensemble/chunk_{chunk}.npy                          [frames,K,3] x,y,score
 * The highest-scoring person of each frame is kept (one subject per
 * capture); a frame without a person has zeros (score 0 = missing).
 *
 * Parallelism: the capture pool runs cameras in parallel; what threads
 * the cameras leave idle (one camera on two cores) run the session's
 * models in parallel on a km_pose_pipeline, which also decodes the next
 * frames while the models run. Results do not depend on the thread count.
 *
 * Ownership: models (km_pose_net) are loaded once and shared read-only;
 * each call has its own pipeline (estimators, tracking state).
 */
#include <stdlib.h>
#include <string.h>

#include "kinema/media.h"
#include "server/capture.h"

km_pose_net *cap_net(km_capture *c, km_pose_kind kind)
{
    pthread_mutex_lock(&c->nets_mu);
    if (!c->nets[kind] && km_pose_net_load(&c->nets[kind], kind, c->models_dir, NULL) != KM_OK)
        c->nets[kind] = NULL;
    km_pose_net *n = c->nets[kind];
    pthread_mutex_unlock(&c->nets_mu);
    return n;
}

typedef struct pose_run {
    km_capture *c;
    const km_session_rec *r;
    int cam;
    int64_t chunk;
    int nk;
    km_pose_kind kinds[CAP_MAX_MODELS];
    km_pose_pipeline *pipe;
    km_pose_result *fused;   /* [batch]: the pipeline's, then ours */
    km_kp_format fmt;
    int nkp, threads;
    char dir[CAP_PATH];
    cap_cam_result *out;
    size_t cap_frames;
} pose_run;

static const km_person *best_person(const km_pose_result *r)
{
    const km_person *b = NULL;
    for (int i = 0; i < r->n; i++)
        if (!b || r->p[i].score > b->score)
            b = &r->p[i];
    return b;
}

/* Write points [K,2] and confidence [K] of person p (NULL: zeros). */
static int write_pair(const char *pts_path, const char *conf_path, const km_person *p, int nkp,
                      double *row)
{
    km_array pts = {KM_DT_F64, 2, {nkp, 2}, NULL}, conf = {KM_DT_F64, 1, {nkp}, NULL};
    double xy[KM_POSE_MAX_KP * 2], sc[KM_POSE_MAX_KP];
    for (int k = 0; k < nkp; k++) {
        int ok = p && k < p->nkp;
        xy[2 * k] = ok ? p->kp[k].x : 0;
        xy[2 * k + 1] = ok ? p->kp[k].y : 0;
        sc[k] = ok ? p->kp[k].score : 0;
        if (row) {
            row[3 * k] = xy[2 * k];
            row[3 * k + 1] = xy[2 * k + 1];
            row[3 * k + 2] = sc[k];
        }
    }
    pts.data = xy;
    conf.data = sc;
    int rc = cap_write_npy(pts_path, &pts);
    return rc ? rc : cap_write_npy(conf_path, &conf);
}

static int grow(pose_run *pr)
{
    cap_cam_result *o = pr->out;
    if ((size_t)o->nframes < pr->cap_frames)
        return KM_OK;
    if (o->nframes >= CAP_MAX_CHUNK_FRAMES)
        return km_seterr(KM_ERANGE, "chunk has more than %d frames", CAP_MAX_CHUNK_FRAMES);
    size_t ncap = pr->cap_frames ? pr->cap_frames * 2 : 64;
    double *kp = realloc(o->kp, ncap * (size_t)pr->nkp * 3 * sizeof(double));
    if (!kp)
        return km_seterr(KM_ENOMEM, "out of memory");
    o->kp = kp;
    pr->cap_frames = ncap;
    return KM_OK;
}

/* Files of frame i of the batch just collected: each model's best
 * person, then the models fused (as one model's result is fused too: its
 * keypoints under the threshold dropped). */
static int write_frame(pose_run *pr, int i)
{
    int fi = pr->out->nframes;
    char a[CAP_PATH + 128], b[CAP_PATH + 128];
    const km_pose_result *ptrs[CAP_MAX_MODELS];
    int rc = grow(pr);
    for (int m = 0; !rc && m < pr->nk; m++) {
        ptrs[m] = km_pose_pipeline_model_result(pr->pipe, i, m);
        const char *name = km_pose_kind_name(pr->kinds[m]);
        snprintf(a, sizeof a, "%s/2D/points/%s/%d_%lld.npy", pr->dir, name, fi,
                 (long long)pr->chunk);
        snprintf(b, sizeof b, "%s/2D/confidence/%s/%d_%lld_confidence.npy", pr->dir, name, fi,
                 (long long)pr->chunk);
        rc = write_pair(a, b, best_person(ptrs[m]),
                        km_kp_count(km_pose_kind_format(pr->kinds[m])), NULL);
    }
    km_fuse_opts fo = {pr->fmt, 0.3f, 0.3f};
    if (!rc)
        rc = km_pose_fuse(ptrs, pr->nk, NULL, &fo, &pr->fused[i]);
    if (rc)
        return rc;
    snprintf(a, sizeof a, "%s/ensemble/%d_%lld.npy", pr->dir, fi, (long long)pr->chunk);
    snprintf(b, sizeof b, "%s/ensemble/%d_%lld_confidence.npy", pr->dir, fi,
             (long long)pr->chunk);
    double *row = pr->out->kp + (size_t)fi * (size_t)pr->nkp * 3;
    rc = write_pair(a, b, best_person(&pr->fused[i]), pr->nkp, row);
    if (!rc)
        pr->out->nframes++;
    return rc;
}

static int setup(pose_run *pr)
{
    int rc = cap_models_parse(pr->r->models, pr->kinds, &pr->nk);
    if (rc)
        return rc;
    km_pose_net *nets[CAP_MAX_MODELS];
    int all_blaze = 1;
    for (int m = 0; m < pr->nk; m++) {
        if (!(nets[m] = cap_net(pr->c, pr->kinds[m])))
            return km_seterr(KM_EUNSUPPORTED, "pose model %s not available: %s",
                             km_pose_kind_name(pr->kinds[m]), km_errmsg());
        all_blaze &= km_pose_kind_format(pr->kinds[m]) == KM_KP_BLAZE33;
    }
    pr->fmt = all_blaze ? KM_KP_BLAZE33 : KM_KP_COCO17;
    pr->nkp = km_kp_count(pr->fmt);
    km_pose_pipeline_opts po;
    memset(&po, 0, sizeof po);
    po.kinds = pr->kinds;
    po.nkinds = pr->nk;
    po.nets = nets;
    po.threads = pr->threads;
    po.track = 1;
    if ((rc = km_pose_pipeline_new(&pr->pipe, &po)) != 0)
        return rc;
    pr->fused = calloc((size_t)km_pose_pipeline_batch(pr->pipe), sizeof *pr->fused);
    if (!pr->fused)
        return km_seterr(KM_ENOMEM, "out of memory");
    return cap_camera_dir(pr->c, pr->r->patient_id, pr->r->session_id, pr->cam, pr->dir,
                          sizeof pr->dir);
}

static int stopping(const pose_run *pr)
{
    return km_queue_stopping(pr->c->queue) ||
           cap_is_cancelled(pr->c, pr->r->patient_id, pr->r->session_id);
}

/* Up to `max` frames into f[] (*n of them; 0 at the end of the video). */
static int read_batch(km_reader *rd, km_frame **f, int max, int *n)
{
    *n = 0;
    while (*n < max) {
        int rc = km_reader_read(rd, &f[*n]);
        if (rc == KM_EEOF)
            return KM_OK;
        if (rc)
            return rc;
        (*n)++;
    }
    return KM_OK;
}

static void unref_all(km_frame **f, int n)
{
    for (int i = 0; i < n; i++)
        km_frame_unref(f[i]);
}

/* Batches of frames through the pipeline; the next batch is decoded while
 * the models run on this one. */
static int run_batches(pose_run *pr, km_reader *rd)
{
    enum { MAXB = 32 };
    km_frame *cur[MAXB], *next[MAXB];
    const km_image *imgs[MAXB];
    int batch = km_pose_pipeline_batch(pr->pipe), ncur = 0, nnext = 0;
    if (batch > MAXB)
        batch = MAXB;
    int rc = read_batch(rd, cur, batch, &ncur);
    while (!rc && ncur > 0) {
        if (stopping(pr)) {
            rc = km_seterr(KM_ECANCELED, "stopped");
            break;
        }
        for (int i = 0; i < ncur; i++)
            imgs[i] = cur[i]->img;
        rc = km_pose_pipeline_submit(pr->pipe, imgs, ncur);
        int read_rc = rc ? KM_OK : read_batch(rd, next, batch, &nnext);
        if (!rc)
            rc = km_pose_pipeline_collect(pr->pipe, pr->fused);
        for (int i = 0; !rc && i < ncur; i++)
            rc = write_frame(pr, i);
        if (!rc)
            rc = read_rc;
        unref_all(cur, ncur);
        memcpy(cur, next, (size_t)nnext * sizeof *cur);
        ncur = nnext;
        nnext = 0;
    }
    unref_all(cur, ncur);
    return rc;
}

static int run_frames(pose_run *pr, const char *video)
{
    km_reader *rd = NULL;
    int rc = km_reader_open(&rd, video, NULL);
    if (rc)
        return rc;
    pr->out->fps = km_reader_info(rd)->fps;
    rc = run_batches(pr, rd);
    km_reader_close(rd);
    return rc;
}

static int write_chunk_array(pose_run *pr)
{
    cap_cam_result *o = pr->out;
    char path[CAP_PATH + 64];
    snprintf(path, sizeof path, "%s/ensemble/chunk_%lld.npy", pr->dir, (long long)pr->chunk);
    km_array a = {KM_DT_F64, 3, {o->nframes, pr->nkp, 3}, o->kp};
    double dummy[3];
    if (!o->kp)
        a.data = dummy;
    return cap_write_npy(path, &a);
}

int cap_pose_camera(km_capture *c, const km_session_rec *r, int cam, int64_t chunk,
                    int threads, cap_cam_result *out)
{
    memset(out, 0, sizeof *out);
    pose_run *pr = calloc(1, sizeof *pr);
    if (!pr)
        return out->rc = km_seterr(KM_ENOMEM, "out of memory");
    pr->c = c;
    pr->r = r;
    pr->cam = cam;
    pr->chunk = chunk;
    pr->threads = threads;
    pr->out = out;
    char video[CAP_PATH];
    int rc = setup(pr);
    if (!rc)
        rc = cap_chunk_path(c, r->patient_id, r->session_id, cam, chunk, video, sizeof video);
    if (!rc)
        rc = run_frames(pr, video);
    if (!rc)
        rc = write_chunk_array(pr);
    out->nkp = pr->nkp;
    out->fmt = pr->fmt;
    km_pose_pipeline_free(pr->pipe);
    free(pr->fused);
    free(pr);
    out->rc = rc;
    if (rc)
        snprintf(out->err, sizeof out->err, "camera %d: %s", cam, km_errmsg());
    return rc;
}
