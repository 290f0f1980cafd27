/*
 * keypoints.c - the two keypoint formats kinema speaks (COCO-17 and
 * BlazePose-33): names, the mapping between them, skeleton edges and the
 * COCO OKS sigmas. Kept as static tables so every layer (pose, geom, the
 * JSON writer, the overlay) agrees on one order. See docs/formats.md.
 */
#include <string.h>

#include "kinema/pose.h"

static const char *const coco_names[KM_COCO17_N] = {
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
};

static const char *const blaze_names[KM_BLAZE33_N] = {
    "nose", "left_eye_inner", "left_eye", "left_eye_outer",
    "right_eye_inner", "right_eye", "right_eye_outer", "left_ear", "right_ear",
    "mouth_left", "mouth_right", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
};

/* blaze_of_coco[c]: the BlazePose landmark with the same anatomical name. */
static const int blaze_of_coco[KM_COCO17_N] = {
    0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28,
};

static const int coco_edges[][2] = {
    {0, 1}, {0, 2}, {1, 3}, {2, 4}, {5, 6}, {5, 7}, {7, 9}, {6, 8},
    {8, 10}, {5, 11}, {6, 12}, {11, 12}, {11, 13}, {13, 15}, {12, 14}, {14, 16},
};

static const int blaze_edges[][2] = {
    {0, 1}, {1, 2}, {2, 3}, {3, 7}, {0, 4}, {4, 5}, {5, 6}, {6, 8}, {9, 10},
    {11, 12}, {11, 13}, {13, 15}, {15, 17}, {15, 19}, {15, 21}, {17, 19},
    {12, 14}, {14, 16}, {16, 18}, {16, 20}, {16, 22}, {18, 20},
    {11, 23}, {12, 24}, {23, 24}, {23, 25}, {24, 26}, {25, 27}, {26, 28},
    {27, 29}, {28, 30}, {29, 31}, {30, 32}, {27, 31}, {28, 32},
};

/* COCO keypoint sigmas (per-keypoint OKS falloff). */
static const float coco_sigmas[KM_COCO17_N] = {
    0.026f, 0.025f, 0.025f, 0.035f, 0.035f, 0.079f, 0.079f, 0.072f, 0.072f,
    0.062f, 0.062f, 0.107f, 0.107f, 0.087f, 0.087f, 0.089f, 0.089f,
};

int km_kp_count(km_kp_format f)
{
    return f == KM_KP_COCO17 ? KM_COCO17_N : f == KM_KP_BLAZE33 ? KM_BLAZE33_N : 0;
}

const char *km_kp_name(km_kp_format f, int i)
{
    if (i < 0 || i >= km_kp_count(f))
        return NULL;
    return f == KM_KP_COCO17 ? coco_names[i] : blaze_names[i];
}

const char *km_kp_format_name(km_kp_format f)
{
    return f == KM_KP_BLAZE33 ? "blazepose33" : "coco17";
}

int km_kp_blaze_of_coco(int coco)
{
    return coco >= 0 && coco < KM_COCO17_N ? blaze_of_coco[coco] : -1;
}

int km_kp_coco_of_blaze(int blaze)
{
    for (int c = 0; c < KM_COCO17_N; c++)
        if (blaze_of_coco[c] == blaze)
            return c;
    return -1;
}

int km_kp_edges(km_kp_format f, const int **edges)
{
    if (f == KM_KP_BLAZE33) {
        *edges = &blaze_edges[0][0];
        return (int)(sizeof blaze_edges / sizeof blaze_edges[0]);
    }
    *edges = &coco_edges[0][0];
    return (int)(sizeof coco_edges / sizeof coco_edges[0]);
}

float km_kp_coco_sigma(int i)
{
    return i >= 0 && i < KM_COCO17_N ? coco_sigmas[i] : 0.1f;
}

void km_person_to_coco(const km_person *in, km_person *out)
{
    if (in->format != KM_KP_BLAZE33) {
        if (out != in)
            *out = *in;
        return;
    }
    km_person tmp = *in;
    tmp.format = KM_KP_COCO17;
    tmp.nkp = KM_COCO17_N;
    for (int c = 0; c < KM_COCO17_N; c++) {
        int b = blaze_of_coco[c];
        tmp.kp[c] = in->kp[b];
        memcpy(tmp.world[c], in->world[b], sizeof tmp.world[c]);
        tmp.presence[c] = in->presence[b];
        tmp.spread[c] = in->spread[b];
        tmp.nmodels[c] = in->nmodels[b];
    }
    for (int k = KM_COCO17_N; k < KM_POSE_MAX_KP; k++) {
        memset(&tmp.kp[k], 0, sizeof tmp.kp[k]);
        memset(tmp.world[k], 0, sizeof tmp.world[k]);
        tmp.presence[k] = tmp.spread[k] = 0;
        tmp.nmodels[k] = 0;
    }
    *out = tmp;
}

void km_person_update_bbox(km_person *p, float min_score)
{
    int pass = 0;
    for (int k = 0; k < p->nkp; k++)
        pass += p->kp[k].score >= min_score;
    float x0 = 1e30f, y0 = 1e30f, x1 = -1e30f, y1 = -1e30f;
    for (int k = 0; k < p->nkp; k++) {
        if (pass >= 2 && p->kp[k].score < min_score)
            continue;
        if (p->kp[k].x < x0) x0 = p->kp[k].x;
        if (p->kp[k].y < y0) y0 = p->kp[k].y;
        if (p->kp[k].x > x1) x1 = p->kp[k].x;
        if (p->kp[k].y > y1) y1 = p->kp[k].y;
    }
    if (p->nkp == 0 || x1 < x0) {
        memset(p->bbox, 0, sizeof p->bbox);
        return;
    }
    p->bbox[0] = x0;
    p->bbox[1] = y0;
    p->bbox[2] = x1 - x0;
    p->bbox[3] = y1 - y0;
}
