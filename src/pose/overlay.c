/*
 * overlay.c - draws skeletons on RGB24 images for `kinema pose --overlay`.
 *
 * Kept small on purpose (thick lines by stamping discs, filled circles,
 * box outlines); generic drawing belongs to vision/. Colours follow a
 * per-track palette so ids are recognisable across frames.
 */
#include <math.h>

#include "kinema/pose.h"

typedef struct {
    uint8_t r, g, b;
} rgb;

static const rgb palette[8] = {
    {230, 25, 75}, {60, 180, 75}, {0, 130, 200}, {245, 130, 48},
    {145, 30, 180}, {70, 240, 240}, {240, 50, 230}, {210, 245, 60},
};

static void put(km_image *img, int x, int y, rgb c)
{
    if (x < 0 || y < 0 || x >= img->width || y >= img->height)
        return;
    uint8_t *p = km_image_row(img, y) + 3 * (size_t)x;
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
}

static void disc(km_image *img, float cx, float cy, float r, rgb c)
{
    if (!isfinite(cx) || !isfinite(cy))
        return;
    int x0 = (int)floorf(cx - r), x1 = (int)ceilf(cx + r);
    int y0 = (int)floorf(cy - r), y1 = (int)ceilf(cy + r);
    if (x1 < 0 || y1 < 0 || x0 >= img->width || y0 >= img->height)
        return;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float dx = (float)x + 0.5f - cx, dy = (float)y + 0.5f - cy;
            if (dx * dx + dy * dy <= r * r)
                put(img, x, y, c);
        }
}

static void line(km_image *img, float x0, float y0, float x1, float y1, float r, rgb c)
{
    float len = hypotf(x1 - x0, y1 - y0);
    if (!isfinite(len) || len > 4.0f * (float)KM_IMAGE_MAX_DIM)
        return;
    int steps = (int)ceilf(len) + 1;
    for (int i = 0; i <= steps; i++) {
        float t = (float)i / (float)steps;
        disc(img, x0 + t * (x1 - x0), y0 + t * (y1 - y0), r, c);
    }
}

static void box(km_image *img, const float b[4], rgb c)
{
    float x0 = b[0], y0 = b[1], x1 = b[0] + b[2], y1 = b[1] + b[3];
    line(img, x0, y0, x1, y0, 0.6f, c);
    line(img, x1, y0, x1, y1, 0.6f, c);
    line(img, x1, y1, x0, y1, 0.6f, c);
    line(img, x0, y1, x0, y0, 0.6f, c);
}

void km_pose_draw(km_image *img, const km_pose_result *r, float min_score)
{
    if (!img || img->fmt != KM_PIX_RGB24 || !r)
        return;
    float scale = (float)(img->width > img->height ? img->width : img->height) / 640.0f;
    float lw = fmaxf(1.0f, 1.5f * scale), pr = fmaxf(2.0f, 3.0f * scale);
    const rgb white = {255, 255, 255};
    for (int i = 0; i < r->n; i++) {
        const km_person *p = &r->p[i];
        rgb c = palette[(p->id >= 0 ? p->id : i) % 8];
        const int *e;
        int ne = km_kp_edges(p->format, &e);
        box(img, p->bbox, c);
        for (int k = 0; k < ne; k++) {
            const km_keypoint *a = &p->kp[e[2 * k]], *b = &p->kp[e[2 * k + 1]];
            if (a->score >= min_score && b->score >= min_score)
                line(img, a->x, a->y, b->x, b->y, lw, c);
        }
        for (int k = 0; k < p->nkp; k++)
            if (p->kp[k].score >= min_score) {
                disc(img, p->kp[k].x, p->kp[k].y, pr, white);
                disc(img, p->kp[k].x, p->kp[k].y, pr * 0.6f, c);
            }
    }
}
