/*
 * movenet_decode.c - MoveNet's post-processing in C, so the network can be
 * cut at its convolution heads (the TF.js graphs end in ArgMax/GatherNd/
 * TopK, which the NN runtime does not need to know).
 *
 * Single pose (Lightning/Thunder): the person centre is the argmax of the
 * centre heatmap weighted by 1/(distance to the grid centre + 1.8); each
 * keypoint is the argmax of its heatmap divided by (distance to the
 * regressed position + 1.8), refined by the offset head.
 * MultiPose: centres by 5x5 max-pool NMS and top-6; boxes from the box
 * heads; keypoints by the heatmap times a Gaussian around the regressed
 * position, inside the person's box; person score = centre score times the
 * mean of its keypoint scores above 0.127.
 * The constants are the graphs' own (stored as fp16, hence 1.7998).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/pose.h"

#define MN_DIST_BIAS 1.7998046875f     /* add_5/y */
#define MP_KP_THRESHOLD 0.126953125f   /* Greater_1/y */
#define MP_NMS_EPS 1.013279e-06f       /* Less/y */
#define MP_SIGMA_SCALE 0.300048828125f /* mul_6/y */

static inline float sigm(float v)
{
    return 1.0f / (1.0f + expf(-v));
}

/* Round to the nearest fp16 value (the graph stores its centre prior as
 * fp16; rounding the same way keeps argmax ties identical). */
static float round_fp16(float v)
{
    if (v == 0.0f || !isfinite(v))
        return v;
    int e;
    float m = frexpf(v, &e);
    return ldexpf(roundf(m * 2048.0f) / 2048.0f, e);
}

int km_movenet_decode_single(const float *heatmap, const float *center,
                             const float *regress, const float *offset,
                             int gh, int gw, float kp_out[17][3])
{
    if (gh <= 0 || gw <= 0)
        return km_seterr(KM_EINVAL, "movenet decode: bad grid %dx%d", gh, gw);
    int cy = 0, cx = 0;
    float best = -1.0f;
    float hy = (float)gh * 0.5f, hx = (float)gw * 0.5f;
    for (int y = 0; y < gh; y++)
        for (int x = 0; x < gw; x++) {
            float dy = (float)y - hy, dx = (float)x - hx;
            float w = round_fp16(1.0f / (sqrtf(dy * dy + dx * dx) + MN_DIST_BIAS));
            float v = sigm(center[y * gw + x]) * w;
            if (v > best) {
                best = v;
                cy = y;
                cx = x;
            }
        }
    const float *reg = regress + ((size_t)cy * (size_t)gw + (size_t)cx) * 34;
    for (int k = 0; k < 17; k++) {
        float ry = (float)cy + reg[2 * k], rx = (float)cx + reg[2 * k + 1];
        int ky = 0, kx = 0;
        float kbest = -1.0f;
        for (int y = 0; y < gh; y++)
            for (int x = 0; x < gw; x++) {
                float dy = (float)y - ry, dx = (float)x - rx;
                float v = sigm(heatmap[((size_t)y * (size_t)gw + (size_t)x) * 17 + (size_t)k]) /
                          (sqrtf(dy * dy + dx * dx) + MN_DIST_BIAS);
                if (v > kbest) {
                    kbest = v;
                    ky = y;
                    kx = x;
                }
            }
        size_t cell = (size_t)ky * (size_t)gw + (size_t)kx;
        const float *off = offset + cell * 34;
        kp_out[k][0] = ((float)ky + off[2 * k]) / (float)gh;
        kp_out[k][1] = ((float)kx + off[2 * k + 1]) / (float)gw;
        kp_out[k][2] = sigm(heatmap[cell * 17 + (size_t)k]);
    }
    return 0;
}

/* ------------------------------------------------------------ MultiPose */

typedef struct {
    int y, x;
    float score;
    float box[4];      /* ymin, xmin, ymax, xmax in grid units, clipped */
    float ry[17], rx[17];
} mp_instance;

static int in_box(const mp_instance *p, int y, int x)
{
    return (float)y >= p->box[0] && (float)y < p->box[2] &&
           (float)x >= p->box[1] && (float)x < p->box[3];
}

/* heat: sigmoid of the keypoint heatmap at one cell (17 values). */
static float mp_value(const float *heat, const mp_instance *p, int k,
                      int y, int x, float inv_s)
{
    if (!in_box(p, y, x))
        return 0.0f;
    float dy = (float)y - p->ry[k], dx = (float)x - p->rx[k];
    return heat[k] * expf(-(dy * dy + dx * dx) * inv_s);
}

static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Top-6 centres after 5x5 max-pool suppression (ties: lower index first). */
static void mp_centres(const float *center, int gh, int gw, mp_instance inst[6])
{
    for (int i = 0; i < 6; i++) {
        inst[i].y = inst[i].x = 0;
        inst[i].score = -1.0f;
    }
    for (int y = 0; y < gh; y++)
        for (int x = 0; x < gw; x++) {
            /* sigmoid is monotonic: pool the logits, compare the sigmoids */
            float lc = center[y * gw + x], lm = lc;
            for (int yy = y - 2; yy <= y + 2; yy++)
                for (int xx = x - 2; xx <= x + 2; xx++)
                    if (yy >= 0 && xx >= 0 && yy < gh && xx < gw && center[yy * gw + xx] > lm)
                        lm = center[yy * gw + xx];
            float c = sigm(lc);
            float v = fabsf(c - sigm(lm)) < MP_NMS_EPS ? c : 0.0f;
            int pos = 6;
            while (pos > 0 && v > inst[pos - 1].score)
                pos--;
            if (pos >= 6)
                continue;
            memmove(&inst[pos + 1], &inst[pos], sizeof inst[0] * (size_t)(5 - pos));
            inst[pos].y = y;
            inst[pos].x = x;
            inst[pos].score = v;
        }
}

typedef struct {
    const float *heat;          /* sigmoid of the keypoint heatmap */
    const float *regress, *offset, *box_scale, *box_offset;
    int gh, gw;
    float inv_s;                /* 1 / (0.3 * min(gh, gw)) */
    mp_instance inst[6];
} mp_ctx;

/* Box (clipped to the grid) and regressed keypoints of each instance. */
static void mp_boxes(mp_ctx *c)
{
    float H = (float)c->gh, W = (float)c->gw;
    for (int i = 0; i < 6; i++) {
        mp_instance *p = &c->inst[i];
        size_t cell = (size_t)p->y * (size_t)c->gw + (size_t)p->x;
        float sh = fmaxf(c->box_scale[cell * 2], 0.0f), sw = fmaxf(c->box_scale[cell * 2 + 1], 0.0f);
        float oy = (float)p->y + c->box_offset[cell * 2];
        float ox = (float)p->x + c->box_offset[cell * 2 + 1];
        p->box[0] = clampf(oy - sh * 0.5f, 0.0f, H);
        p->box[1] = clampf(ox - sw * 0.5f, 0.0f, W);
        p->box[2] = clampf(oy + sh * 0.5f, 0.0f, H);
        p->box[3] = clampf(ox + sw * 0.5f, 0.0f, W);
        for (int k = 0; k < 17; k++) {
            p->ry[k] = (float)p->y + c->regress[cell * 34 + 2 * (size_t)k];
            p->rx[k] = (float)p->x + c->regress[cell * 34 + 2 * (size_t)k + 1];
        }
    }
}

/* Keypoint k of instance p: (y, x, score) normalised to the grid. */
static void mp_keypoint(const mp_ctx *c, const mp_instance *p, int k, float kp[3])
{
    int ky = 0, kx = 0, gw = c->gw;
    float best = 0.0f;
    int y0 = (int)ceilf(p->box[0]), x0 = (int)ceilf(p->box[1]);
    for (int y = y0; y < c->gh && (float)y < p->box[2]; y++)
        for (int x = x0; x < gw && (float)x < p->box[3]; x++) {
            const float *h = c->heat + ((size_t)y * (size_t)gw + (size_t)x) * 17;
            float v = mp_value(h, p, k, y, x, c->inv_s);
            if (v > best) { /* first maximum, as ArgMax; all 0: index 0 */
                best = v;
                ky = y;
                kx = x;
            }
        }
    size_t cell = (size_t)ky * (size_t)gw + (size_t)kx;
    float score = 0.0f; /* the graph takes the max over all instances here */
    for (int q = 0; q < 6; q++)
        score = fmaxf(score, mp_value(c->heat + cell * 17, &c->inst[q], k, ky, kx, c->inv_s));
    kp[0] = ((float)ky + c->offset[cell * 34 + 2 * (size_t)k]) / (float)c->gh;
    kp[1] = ((float)kx + c->offset[cell * 34 + 2 * (size_t)k + 1]) / (float)gw;
    kp[2] = score;
}

static void mp_instance_out(const mp_ctx *c, const mp_instance *p, float out[56])
{
    float sum = 0.0f;
    int valid = 0;
    for (int k = 0; k < 17; k++) {
        mp_keypoint(c, p, k, out + 3 * k);
        if (out[3 * k + 2] > MP_KP_THRESHOLD) {
            sum += out[3 * k + 2];
            valid++;
        }
    }
    for (int q = 0; q < 4; q++)
        out[51 + q] = clampf(p->box[q] / (float)(q % 2 == 0 ? c->gh : c->gw), 0.0f, 1.0f);
    out[55] = fmaxf(p->score, 0.0f) * sum / (float)(valid > 1 ? valid : 1);
}

int km_movenet_decode_multi(const float *heatmap, const float *center,
                            const float *regress, const float *offset,
                            const float *box_scale, const float *box_offset,
                            int gh, int gw, float min_center, float out[6][56])
{
    if (gh <= 0 || gw <= 0 || gh > 1024 || gw > 1024)
        return km_seterr(KM_EINVAL, "movenet decode: bad grid %dx%d", gh, gw);
    size_t cells = (size_t)gh * (size_t)gw;
    float *heat = malloc(sizeof(float) * cells * 17);
    if (!heat)
        return km_seterr(KM_ENOMEM, "movenet decode: out of memory");
    for (size_t i = 0; i < cells * 17; i++)
        heat[i] = sigm(heatmap[i]);
    mp_ctx c = {heat, regress, offset, box_scale, box_offset, gh, gw,
                1.0f / (fminf((float)gh, (float)gw) * MP_SIGMA_SCALE), {{0}}};
    mp_centres(center, gh, gw, c.inst);
    mp_boxes(&c);
    for (int i = 0; i < 6; i++) {
        if (c.inst[i].score >= min_center)
            mp_instance_out(&c, &c.inst[i], out[i]);
        else /* score = centre x mean keypoint score < min_center: skip */
            memset(out[i], 0, sizeof out[i]);
    }
    free(heat);
    return 0;
}
