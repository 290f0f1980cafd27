/*
 * anchors.c - the SSD side of BlazePose's person detector: anchor grid,
 * box/keypoint decode and MediaPipe's weighted non-max suppression.
 *
 * Pure functions on plain arrays so the unit tests can check counts,
 * positions and suppression on hand-made inputs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/pose.h"

int km_ssd_anchors(int input_size, const int *strides, int nstrides,
                   km_anchor *out, int cap)
{
    int count = 0, l = 0;
    while (l < nstrides) {
        int stride = strides[l], per_cell = 0;
        while (l < nstrides && strides[l] == stride) {
            per_cell += 2; /* aspect ratio 1 + the interpolated scale */
            l++;
        }
        if (stride <= 0)
            return km_seterr(KM_EINVAL, "ssd anchors: stride must be positive");
        int g = (input_size + stride - 1) / stride;
        for (int y = 0; y < g; y++)
            for (int x = 0; x < g; x++)
                for (int k = 0; k < per_cell; k++) {
                    if (count < cap && out) {
                        out[count].x = ((float)x + 0.5f) / (float)g;
                        out[count].y = ((float)y + 0.5f) / (float)g;
                        out[count].w = 1.0f;
                        out[count].h = 1.0f;
                    }
                    count++;
                }
    }
    return count;
}

static float sigmoid_clipped(float v)
{
    if (v > 100.0f) v = 100.0f;
    if (v < -100.0f) v = -100.0f;
    return 1.0f / (1.0f + expf(-v));
}

int km_ssd_decode(const float *reg, const float *logits, const km_anchor *anchors,
                  int n, int input_size, float min_score, km_detection *out, int cap)
{
    int m = 0;
    float inv = 1.0f / (float)input_size;
    for (int i = 0; i < n && m < cap; i++) {
        float s = sigmoid_clipped(logits[i]);
        if (s < min_score)
            continue;
        const float *r = reg + (size_t)i * 12;
        const km_anchor *a = &anchors[i];
        float xc = r[0] * inv * a->w + a->x, yc = r[1] * inv * a->h + a->y;
        float w = r[2] * inv * a->w, h = r[3] * inv * a->h;
        km_detection *d = &out[m++];
        d->score = s;
        d->xmin = xc - 0.5f * w;
        d->ymin = yc - 0.5f * h;
        d->xmax = xc + 0.5f * w;
        d->ymax = yc + 0.5f * h;
        for (int k = 0; k < KM_DET_MAX_KP; k++) {
            d->kp[k][0] = r[4 + 2 * k] * inv * a->w + a->x;
            d->kp[k][1] = r[5 + 2 * k] * inv * a->h + a->y;
        }
    }
    return m;
}

float km_box_iou(const float a[4], const float b[4])
{
    float x0 = fmaxf(a[0], b[0]), y0 = fmaxf(a[1], b[1]);
    float x1 = fminf(a[0] + a[2], b[0] + b[2]), y1 = fminf(a[1] + a[3], b[1] + b[3]);
    if (x1 <= x0 || y1 <= y0)
        return 0.0f;
    float inter = (x1 - x0) * (y1 - y0);
    float uni = a[2] * a[3] + b[2] * b[3] - inter;
    return uni > 0.0f ? inter / uni : 0.0f;
}

static float det_iou(const km_detection *a, const km_detection *b)
{
    float ba[4] = {a->xmin, a->ymin, a->xmax - a->xmin, a->ymax - a->ymin};
    float bb[4] = {b->xmin, b->ymin, b->xmax - b->xmin, b->ymax - b->ymin};
    return km_box_iou(ba, bb);
}

static int by_score_desc(const void *pa, const void *pb)
{
    const km_detection *a = pa, *b = pb;
    return (a->score < b->score) - (a->score > b->score);
}

int km_weighted_nms(km_detection *dets, int n, float iou_thr)
{
    if (n <= 0)
        return 0;
    qsort(dets, (size_t)n, sizeof *dets, by_score_desc);
    char *used = calloc((size_t)n, 1);
    if (!used)
        return km_seterr(KM_ENOMEM, "nms: out of memory");
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (used[i])
            continue;
        km_detection acc;
        memset(&acc, 0, sizeof acc);
        float total = 0.0f;
        for (int j = i; j < n; j++) {
            if (used[j] || (j != i && det_iou(&dets[i], &dets[j]) <= iou_thr))
                continue;
            used[j] = 1;
            float w = dets[j].score;
            total += w;
            acc.xmin += w * dets[j].xmin;
            acc.ymin += w * dets[j].ymin;
            acc.xmax += w * dets[j].xmax;
            acc.ymax += w * dets[j].ymax;
            for (int k = 0; k < KM_DET_MAX_KP; k++) {
                acc.kp[k][0] += w * dets[j].kp[k][0];
                acc.kp[k][1] += w * dets[j].kp[k][1];
            }
        }
        km_detection out = dets[i];
        if (total > 0.0f) {
            out.xmin = acc.xmin / total;
            out.ymin = acc.ymin / total;
            out.xmax = acc.xmax / total;
            out.ymax = acc.ymax / total;
            for (int k = 0; k < KM_DET_MAX_KP; k++) {
                out.kp[k][0] = acc.kp[k][0] / total;
                out.kp[k][1] = acc.kp[k][1] / total;
            }
        }
        dets[kept++] = out; /* kept <= i, so dets[i] was read already */
    }
    free(used);
    return kept;
}
