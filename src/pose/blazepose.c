/*
 * blazepose.c - MediaPipe BlazePose as two networks: a person detector on
 * the letterboxed frame, then the landmark network on a rotated square
 * crop around the person.
 *
 * Detector: SSD anchors, sigmoid scores >= 0.5, weighted NMS (IoU 0.3);
 * the best detection's keypoint 0 (hip centre) and 1 (a point on the
 * body-scale circle) give the ROI: centred on the hips, side 2.5x their
 * distance, rotated so the body is upright.
 * Landmarks: 39 x (x, y, z, visibility logit, presence logit) in crop
 * pixels (33 body points + 2 helper points for the next ROI + 4 unused),
 * a person score, and 39 x (x, y, z) world coordinates in metres.
 * Video: the next frame's ROI comes from the two helper points; the
 * detector runs again only when the person score falls below 0.5.
 */
#include <math.h>
#include <string.h>

#include "pose/pose_priv.h"

#define BP_MIN_DET_SCORE 0.5f
#ifndef BP_NMS_IOU
#define BP_NMS_IOU 0.3f
#endif
#define BP_ROI_SCALE 1.25f
#define BP_MAX_DETS 64

static float sigm(float v)
{
    if (v > 80.0f) v = 80.0f;
    if (v < -80.0f) v = -80.0f;
    return 1.0f / (1.0f + expf(-v));
}

/* Run the detector; on a person, set *roi and return 1; 0 if none. */
static int detect(km_pose_estimator *e, const km_image *img, km_roi *roi, float *score)
{
    const km_pose_net *net = e->net;
    int S = net->det_size;
    km_roi box = km_roi_letterbox(img->width, img->height);
    int rc = km_roi_sample(img, &box, S, S, 2.0f / 255.0f, -1.0f, 0, 0, e->det_in);
    if (rc)
        return rc;
    const float *ins[1] = {e->det_in};
    if ((rc = km_model_run(e->det, ins, (float *const *)e->det_out)))
        return rc;
    e->det_runs++;
    km_detection dets[BP_MAX_DETS];
    int n = km_ssd_decode(e->det_out[net->det_idx[0]], e->det_out[net->det_idx[1]],
                          net->anchors, net->nanchors, S, BP_MIN_DET_SCORE, dets, BP_MAX_DETS);
    n = km_weighted_nms(dets, n, BP_NMS_IOU);
    if (n <= 0)
        return n;
    float x0, y0, x1, y1;
    km_roi_to_image(&box, 1, 1, dets[0].kp[0][0], dets[0].kp[0][1], &x0, &y0);
    km_roi_to_image(&box, 1, 1, dets[0].kp[1][0], dets[0].kp[1][1], &x1, &y1);
    *roi = km_roi_from_points(x0, y0, x1, y1, BP_ROI_SCALE);
    *score = dets[0].score;
    return roi->w > 1.0f ? 1 : 0;
}

/* Landmarks on `roi`; fills *p and the next ROI. Returns the person score. */
static int landmarks(km_pose_estimator *e, const km_image *img, const km_roi *roi,
                     km_person *p, km_roi *next, float *score)
{
    const km_pose_net *net = e->net;
    int W = net->in_w, H = net->in_h;
    int rc = km_roi_sample(img, roi, W, H, 1.0f / 255.0f, 0.0f, 0, 0, e->in);
    if (rc)
        return rc;
    const float *ins[1] = {e->in};
    if ((rc = km_model_run(e->main, ins, (float *const *)e->out)))
        return rc;
    const float *lm = e->out[net->out_idx[0]];
    const float *world = e->out[net->out_idx[2]];
    *score = e->out[net->out_idx[1]][0];
    memset(p, 0, sizeof *p);
    p->id = -1;
    p->format = KM_KP_BLAZE33;
    p->nkp = KM_BLAZE33_N;
    p->has_3d = 1;
    float c = cosf(roi->rot), s = sinf(roi->rot);
    for (int k = 0; k < KM_BLAZE33_N; k++) {
        const float *v = lm + 5 * k;
        km_roi_to_image(roi, W, H, v[0], v[1], &p->kp[k].x, &p->kp[k].y);
        p->kp[k].score = sigm(v[3]);
        p->presence[k] = sigm(v[4]);
        /* world landmarks are in the crop's frame: undo its rotation */
        const float *w = world + 3 * k;
        p->world[k][0] = w[0] * c - w[1] * s;
        p->world[k][1] = w[0] * s + w[1] * c;
        p->world[k][2] = w[2];
    }
    float hx, hy, sx, sy;
    km_roi_to_image(roi, W, H, lm[5 * 33], lm[5 * 33 + 1], &hx, &hy);
    km_roi_to_image(roi, W, H, lm[5 * 34], lm[5 * 34 + 1], &sx, &sy);
    *next = km_roi_from_points(hx, hy, sx, sy, BP_ROI_SCALE);
    p->score = *score;
    km_person_update_bbox(p, 0.5f);
    return 0;
}

int km__blazepose_estimate(km_pose_estimator *e, const km_image *img, int track,
                           km_pose_result *out)
{
    float min_score = e->net->opts.min_person;
    for (int attempt = 0; attempt < 2; attempt++) {
        int tracked = track && e->has_roi;
        km_roi roi = e->roi;
        float dscore = 0.0f, score = 0.0f;
        if (!tracked) {
            int got = detect(e, img, &roi, &dscore);
            if (got < 0)
                return got;
            if (got == 0) {
                e->has_roi = 0;
                return 0;
            }
        }
        km_roi next;
        int rc = landmarks(e, img, &roi, &out->p[0], &next, &score);
        if (rc)
            return rc;
        if (score >= min_score) {
            out->n = 1;
            e->has_roi = track && next.w > 1.0f;
            e->roi = next;
            return 0;
        }
        e->has_roi = 0;
        if (!tracked)
            return 0; /* the detector's person was not confirmed */
        /* tracking lost: detect on this same frame */
    }
    return 0;
}
