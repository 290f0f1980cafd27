/*
 * ensemble.c - fusing the outputs of several pose models on one frame.
 *
 * Why: no single model is best everywhere (BlazePose is precise on one
 * large person, MoveNet robust on small or partial ones); the seed system
 * averaged MMPose models with confidence filtering, and this is that idea
 * on the models kinema ships. Persons are matched across models greedily
 * by OKS (box IoU when they share no confident keypoints); each keypoint is
 * the confidence-and-weight average of the models that are confident
 * about it, and the spread between those models is reported with it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/pose.h"

#define MAX_MODELS 16

float km_pose_oks(const km_person *a, const km_person *b, float min_score)
{
    km_person ca, cb;
    km_person_to_coco(a, &ca);
    km_person_to_coco(b, &cb);
    float area = ca.bbox[2] * ca.bbox[3];
    if (!(area > 1.0f))
        area = 1.0f;
    float sum = 0.0f;
    int n = 0;
    for (int k = 0; k < KM_COCO17_N; k++) {
        if (ca.kp[k].score < min_score || cb.kp[k].score < min_score)
            continue;
        float dx = ca.kp[k].x - cb.kp[k].x, dy = ca.kp[k].y - cb.kp[k].y;
        float kk = 2.0f * km_kp_coco_sigma(k);
        sum += expf(-(dx * dx + dy * dy) / (2.0f * area * kk * kk));
        n++;
    }
    return n >= 2 ? sum / (float)n : -1.0f;
}

/* Similarity used for matching: OKS, or box IoU without common keypoints. */
static float similarity(const km_person *a, const km_person *b)
{
    float oks = km_pose_oks(a, b, 0.3f);
    return oks >= 0.0f ? oks : km_box_iou(a->bbox, b->bbox);
}

typedef struct {
    const km_person *member[MAX_MODELS];  /* NULL where a model missed */
} cluster;

typedef struct {
    float sim;
    int person, cl;
} pair;

static int by_sim_desc(const void *pa, const void *pb)
{
    const pair *a = pa, *b = pb;
    return (a->sim < b->sim) - (a->sim > b->sim);
}

/* Add model m's persons to the clusters: greedy best-first matching. */
static int match_model(cluster *cl, int *ncl, const km_pose_result *r, int m, float thr)
{
    pair pairs[KM_POSE_MAX_PERSONS * KM_POSE_MAX_PERSONS];
    int np = 0;
    for (int i = 0; i < r->n; i++)
        for (int c = 0; c < *ncl; c++) {
            float best = -1.0f;
            for (int q = 0; q < m; q++)
                if (cl[c].member[q])
                    best = fmaxf(best, similarity(&r->p[i], cl[c].member[q]));
            if (best >= thr)
                pairs[np++] = (pair){best, i, c};
        }
    qsort(pairs, (size_t)np, sizeof *pairs, by_sim_desc);
    char used_p[KM_POSE_MAX_PERSONS] = {0}, used_c[KM_POSE_MAX_PERSONS] = {0};
    for (int i = 0; i < np; i++) {
        if (used_p[pairs[i].person] || used_c[pairs[i].cl])
            continue;
        used_p[pairs[i].person] = used_c[pairs[i].cl] = 1;
        cl[pairs[i].cl].member[m] = &r->p[pairs[i].person];
    }
    for (int i = 0; i < r->n && *ncl < KM_POSE_MAX_PERSONS; i++)
        if (!used_p[i]) {
            memset(&cl[*ncl], 0, sizeof cl[*ncl]);
            cl[(*ncl)++].member[m] = &r->p[i];
        }
    return 0;
}

/* Fuse one keypoint k of a cluster (members already in the output format). */
static void fuse_keypoint(const km_person *const *mem, const unsigned char (*has)[KM_POSE_MAX_KP],
                          const float *w, int n, int k, float thr, km_person *o)
{
    float sw = 0, sx = 0, sy = 0, ss = 0, swall = 0, sp = 0;
    float wx = 0, wy = 0, wsum_any = 0;
    int kept = 0;
    float w3 = 0, xyz[3] = {0, 0, 0};
    for (int m = 0; m < n; m++) {
        if (!mem[m] || !has[m][k])
            continue;
        const km_keypoint *kp = &mem[m]->kp[k];
        float s = kp->score > 0.0f ? kp->score : 0.0f;
        ss += w[m] * s;
        sp += w[m] * mem[m]->presence[k];
        swall += w[m];
        wx += w[m] * (s + 1e-6f) * kp->x;
        wy += w[m] * (s + 1e-6f) * kp->y;
        wsum_any += w[m] * (s + 1e-6f);
        if (s < thr)
            continue;
        kept++;
        sw += w[m] * s;
        sx += w[m] * s * kp->x;
        sy += w[m] * s * kp->y;
        if (mem[m]->has_3d) {
            w3 += w[m] * s;
            for (int d = 0; d < 3; d++)
                xyz[d] += w[m] * s * mem[m]->world[k][d];
        }
    }
    km_keypoint *out = &o->kp[k];
    out->score = swall > 0 ? ss / swall : 0;
    o->presence[k] = swall > 0 ? sp / swall : 0;
    o->nmodels[k] = kept;
    o->spread[k] = 0;
    if (kept == 0 || sw <= 0) {
        out->x = wsum_any > 0 ? wx / wsum_any : 0;
        out->y = wsum_any > 0 ? wy / wsum_any : 0;
        return;
    }
    out->x = sx / sw;
    out->y = sy / sw;
    float var = 0;
    for (int m = 0; m < n; m++) {
        if (!mem[m] || !has[m][k] || mem[m]->kp[k].score < thr)
            continue;
        float dx = mem[m]->kp[k].x - out->x, dy = mem[m]->kp[k].y - out->y;
        var += w[m] * mem[m]->kp[k].score * (dx * dx + dy * dy);
    }
    o->spread[k] = sqrtf(var / sw);
    if (w3 > 0)
        for (int d = 0; d < 3; d++)
            o->world[k][d] = xyz[d] / w3;
}

/* `in` in the output format `fmt`; has[k] says which keypoints it really
 * provides (a COCO person provides 17 of the 33 BlazePose points). */
static void convert_member(const km_person *in, km_kp_format fmt, km_person *out,
                           unsigned char has[KM_POSE_MAX_KP])
{
    memset(has, 0, KM_POSE_MAX_KP);
    if (fmt == KM_KP_COCO17 || in->format == KM_KP_BLAZE33) {
        if (fmt == KM_KP_COCO17)
            km_person_to_coco(in, out);
        else
            *out = *in;
        memset(has, 1, (size_t)km_kp_count(fmt));
        return;
    }
    memset(out, 0, sizeof *out);
    out->id = in->id;
    out->score = in->score;
    memcpy(out->bbox, in->bbox, sizeof out->bbox);
    out->format = KM_KP_BLAZE33;
    out->nkp = KM_BLAZE33_N;
    out->has_3d = 0;
    for (int c = 0; c < KM_COCO17_N; c++) {
        int b = km_kp_blaze_of_coco(c);
        out->kp[b] = in->kp[c];
        out->presence[b] = in->presence[c];
        has[b] = 1;
    }
}

static void fuse_cluster(const cluster *c, const float *w, int n, km_kp_format fmt,
                         float thr, km_person *o)
{
    km_person conv[MAX_MODELS];
    unsigned char has[MAX_MODELS][KM_POSE_MAX_KP];
    const km_person *mem[MAX_MODELS];
    float bw = 0, box[4] = {0, 0, 0, 0}, score = 0;
    memset(o, 0, sizeof *o);
    o->id = -1;
    o->format = fmt;
    o->nkp = km_kp_count(fmt);
    for (int m = 0; m < n; m++) {
        mem[m] = NULL;
        if (!c->member[m])
            continue;
        convert_member(c->member[m], fmt, &conv[m], has[m]);
        mem[m] = &conv[m];
        o->has_3d |= conv[m].has_3d;
        bw += w[m];
        score += w[m] * conv[m].score;
        for (int q = 0; q < 4; q++)
            box[q] += w[m] * conv[m].bbox[q];
    }
    for (int k = 0; k < o->nkp; k++)
        fuse_keypoint(mem, (const unsigned char (*)[KM_POSE_MAX_KP])has, w, n, k, thr, o);
    o->score = bw > 0 ? score / bw : 0;
    for (int q = 0; q < 4; q++)
        o->bbox[q] = bw > 0 ? box[q] / bw : 0;
}

static int by_person_score(const void *pa, const void *pb)
{
    const km_person *a = pa, *b = pb;
    return (a->score < b->score) - (a->score > b->score);
}

int km_pose_fuse(const km_pose_result *const *in, int n, const float *weights,
                 const km_fuse_opts *opts, km_pose_result *out)
{
    if (n <= 0 || n > MAX_MODELS || !in || !out)
        return km_seterr(KM_EINVAL, "pose fuse: need 1..%d results", MAX_MODELS);
    km_fuse_opts o = {KM_KP_COCO17, 0.3f, 0.3f};
    if (opts)
        o = *opts;
    km_kp_format fmt = o.format == KM_KP_BLAZE33 ? KM_KP_BLAZE33 : KM_KP_COCO17;
    float w[MAX_MODELS];
    for (int m = 0; m < n; m++)
        w[m] = weights ? (weights[m] > 0 ? weights[m] : 0) : 1.0f;

    cluster cl[KM_POSE_MAX_PERSONS];
    int ncl = 0;
    for (int m = 0; m < n; m++) {
        if (in[m]->n < 0 || in[m]->n > KM_POSE_MAX_PERSONS)
            return km_seterr(KM_EINVAL, "pose fuse: result %d has %d persons", m, in[m]->n);
        match_model(cl, &ncl, in[m], m, o.match_threshold);
    }
    out->n = ncl;
    for (int c = 0; c < ncl; c++)
        fuse_cluster(&cl[c], w, n, fmt, o.kp_threshold, &out->p[c]);
    qsort(out->p, (size_t)out->n, sizeof out->p[0], by_person_score);
    return 0;
}
