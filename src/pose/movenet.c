/*
 * movenet.c - MoveNet pipelines around the decoders of movenet_decode.c.
 *
 * Single pose (Lightning 192, Thunder 256): the network sees a square crop
 * of the frame. A still image is letterboxed whole. On video the crop
 * follows the person as tfjs-models' MoveNet does: the first frame is the
 * square at the frame's centre; then the next crop is centred between the
 * hips, half-side the largest of 1.9x the torso extent and 1.2x the body
 * extent (keypoints above 0.2), clipped to the frame, smoothed by a
 * low-pass filter (0.9), and the whole letterboxed frame when the torso is
 * not visible; a pose scoring under 0.25 restarts the tracking. After such
 * a restart tfjs-models goes back to the centre square (its initCropRegion
 * is always called as for a first frame); kinema takes the whole frame, as
 * that function's own comment intends, so a person off the centre is found
 * again (tests/data/golden/pose: the tracking goldens).
 * MultiPose: the letterboxed frame at the network's input size, up to six
 * people with boxes.
 * Pixels reach the network as integers 0..255 (the graphs take int32).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pose/pose_priv.h"

#define MN_MIN_CROP_SCORE 0.2f
#define MN_CROP_ALPHA 0.9f
#define MN_MIN_POSE_SCORE 0.25f /* tfjs-models' DEFAULT_MIN_POSE_SCORE */

/* The square at the frame's centre, side the shorter side, as normalised
 * ymin, xmin, ymax, xmax (tfjs-models' guess for a video's first frame). */
static void centre_crop(int w, int h, float c[4])
{
    c[0] = w > h ? 0.0f : ((float)h * 0.5f - (float)w * 0.5f) / (float)h;
    c[1] = w > h ? ((float)w * 0.5f - (float)h * 0.5f) / (float)w : 0.0f;
    c[2] = w > h ? 1.0f : c[0] + (float)w / (float)h;
    c[3] = w > h ? c[1] + (float)h / (float)w : 1.0f;
}

/* The square (in pixels) letterboxing the frame, as normalised ymin, xmin,
 * ymax, xmax. */
static void full_crop(int w, int h, float c[4])
{
    if (w > h) {
        float bh = (float)w / (float)h;
        c[0] = ((float)h * 0.5f - (float)w * 0.5f) / (float)h;
        c[1] = 0.0f;
        c[2] = c[0] + bh;
        c[3] = 1.0f;
    } else {
        float bw = (float)h / (float)w;
        c[0] = 0.0f;
        c[1] = ((float)w * 0.5f - (float)h * 0.5f) / (float)w;
        c[2] = 1.0f;
        c[3] = c[1] + bw;
    }
}

static km_roi crop_roi(const float c[4], int w, int h)
{
    km_roi r = {(c[1] + c[3]) * 0.5f * (float)w, (c[0] + c[2]) * 0.5f * (float)h,
                (c[3] - c[1]) * (float)w, (c[2] - c[0]) * (float)h, 0.0f};
    return r;
}

static int torso_visible(const km_person *p)
{
    return (p->kp[11].score > MN_MIN_CROP_SCORE || p->kp[12].score > MN_MIN_CROP_SCORE) &&
           (p->kp[5].score > MN_MIN_CROP_SCORE || p->kp[6].score > MN_MIN_CROP_SCORE);
}

/* Next crop region from this frame's keypoints (pixels). */
static void next_crop(const km_person *p, int w, int h, float c[4])
{
    if (!torso_visible(p)) {
        full_crop(w, h, c);
        return;
    }
    float cy = (p->kp[11].y + p->kp[12].y) * 0.5f, cx = (p->kp[11].x + p->kp[12].x) * 0.5f;
    static const int torso[4] = {5, 6, 11, 12};
    float ty = 0, tx = 0, by = 0, bx = 0;
    for (int i = 0; i < 4; i++) {
        ty = fmaxf(ty, fabsf(cy - p->kp[torso[i]].y));
        tx = fmaxf(tx, fabsf(cx - p->kp[torso[i]].x));
    }
    for (int k = 0; k < KM_COCO17_N; k++) {
        if (p->kp[k].score < MN_MIN_CROP_SCORE)
            continue;
        by = fmaxf(by, fabsf(cy - p->kp[k].y));
        bx = fmaxf(bx, fabsf(cx - p->kp[k].x));
    }
    float half = fmaxf(fmaxf(tx * 1.9f, ty * 1.9f), fmaxf(by * 1.2f, bx * 1.2f));
    float lim = fmaxf(fmaxf(cx, (float)w - cx), fmaxf(cy, (float)h - cy));
    half = fminf(half, lim);
    if (half > (float)(w > h ? w : h) * 0.5f || !(half > 0.0f)) {
        full_crop(w, h, c);
        return;
    }
    c[0] = (cy - half) / (float)h;
    c[1] = (cx - half) / (float)w;
    c[2] = (cy + half) / (float)h;
    c[3] = (cx + half) / (float)w;
}

static int run_net(km_pose_estimator *e, const km_image *img, const km_roi *roi)
{
    const km_pose_net *net = e->net;
    int rc = km_roi_sample(img, roi, net->in_w, net->in_h, 1.0f, 0.0f, 1, 1, e->in);
    if (rc)
        return rc;
    const float *ins[1] = {e->in};
    return km_model_run(e->main, ins, (float *const *)e->out);
}

static void init_person(km_person *p)
{
    memset(p, 0, sizeof *p);
    p->id = -1;
    p->format = KM_KP_COCO17;
    p->nkp = KM_COCO17_N;
}

int km__movenet_estimate(km_pose_estimator *e, const km_image *img, int track,
                         km_pose_result *out)
{
    const km_pose_net *net = e->net;
    int W = img->width, H = img->height;
    float crop[4];
    if (track && e->has_crop)
        memcpy(crop, e->crop, sizeof crop);
    else if (track && !e->crop_started)
        centre_crop(W, H, crop);
    else
        full_crop(W, H, crop);
    km_roi roi = crop_roi(crop, W, H);
    int rc = run_net(e, img, &roi);
    if (rc)
        return rc;
    float kp[17][3];
    rc = km_movenet_decode_single(e->out[net->out_idx[0]], e->out[net->out_idx[1]],
                                  e->out[net->out_idx[2]], e->out[net->out_idx[3]],
                                  net->grid_h, net->grid_w, kp);
    if (rc)
        return rc;
    km_person *p = &out->p[0];
    init_person(p);
    float sum = 0.0f;
    int valid = 0;
    for (int k = 0; k < 17; k++) {
        km_roi_to_image(&roi, 1, 1, kp[k][1], kp[k][0], &p->kp[k].x, &p->kp[k].y);
        p->kp[k].score = p->presence[k] = kp[k][2];
        if (kp[k][2] > MN_MIN_CROP_SCORE) {
            sum += kp[k][2];
            valid++;
        }
    }
    p->score = valid ? sum / (float)valid : 0.0f;
    km_person_update_bbox(p, MN_MIN_CROP_SCORE);
    if (track) {
        e->crop_started = 1;
        if (p->score < MN_MIN_POSE_SCORE) {
            e->has_crop = 0;
        } else {
            float nc[4];
            next_crop(p, W, H, nc);
            for (int i = 0; i < 4; i++)
                e->crop[i] = e->has_crop ? MN_CROP_ALPHA * nc[i] + (1.0f - MN_CROP_ALPHA) * e->crop[i]
                                         : nc[i];
            e->has_crop = 1;
        }
    }
    out->n = p->score >= net->opts.min_person ? 1 : 0;
    return 0;
}

static int by_score_desc(const void *pa, const void *pb)
{
    const km_person *a = pa, *b = pb;
    return (a->score < b->score) - (a->score > b->score);
}

int km__multipose_estimate(km_pose_estimator *e, const km_image *img, km_pose_result *out)
{
    const km_pose_net *net = e->net;
    float s = fmaxf((float)img->width / (float)net->in_w, (float)img->height / (float)net->in_h);
    km_roi roi = {(float)img->width * 0.5f, (float)img->height * 0.5f,
                  s * (float)net->in_w, s * (float)net->in_h, 0.0f};
    int rc = run_net(e, img, &roi);
    if (rc)
        return rc;
    float inst[6][56];
    rc = km_movenet_decode_multi(e->out[net->out_idx[0]], e->out[net->out_idx[1]],
                                 e->out[net->out_idx[2]], e->out[net->out_idx[3]],
                                 e->out[net->out_idx[4]], e->out[net->out_idx[5]],
                                 net->grid_h, net->grid_w, net->opts.min_person, inst);
    if (rc)
        return rc;
    out->n = 0;
    for (int i = 0; i < 6; i++) {
        if (inst[i][55] < net->opts.min_person)
            continue;
        km_person *p = &out->p[out->n++];
        init_person(p);
        p->score = inst[i][55];
        for (int k = 0; k < 17; k++) {
            km_roi_to_image(&roi, 1, 1, inst[i][3 * k + 1], inst[i][3 * k], &p->kp[k].x, &p->kp[k].y);
            p->kp[k].score = p->presence[k] = inst[i][3 * k + 2];
        }
        float x0, y0, x1, y1;
        km_roi_to_image(&roi, 1, 1, inst[i][52], inst[i][51], &x0, &y0);
        km_roi_to_image(&roi, 1, 1, inst[i][54], inst[i][53], &x1, &y1);
        x0 = fmaxf(x0, 0.0f);
        y0 = fmaxf(y0, 0.0f);
        x1 = fminf(x1, (float)img->width);
        y1 = fminf(y1, (float)img->height);
        p->bbox[0] = x0;
        p->bbox[1] = y0;
        p->bbox[2] = fmaxf(x1 - x0, 0.0f);
        p->bbox[3] = fmaxf(y1 - y0, 0.0f);
    }
    qsort(out->p, (size_t)out->n, sizeof out->p[0], by_score_desc);
    return 0;
}
