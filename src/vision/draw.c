/*
 * draw.c - boxes, lines, circles and skeletons on 8-bit images.
 *
 * Lines are Bresenham with a square pen of the given thickness; circles use
 * the midpoint algorithm (outline) or horizontal spans (filled). Every
 * pixel write is clipped, so shapes may lie partly or wholly outside.
 */
#include <math.h>

#include "vision/vision_priv.h"

static inline void put(km_image *img, int x, int y, km_rgb c)
{
    if (x < 0 || y < 0 || x >= img->width || y >= img->height)
        return;
    uint8_t *p = km_image_row(img, y) + (size_t)x * img->channels;
    if (img->channels == 3) {
        p[0] = c.r;
        p[1] = c.g;
        p[2] = c.b;
    } else {
        p[0] = c.r;
    }
}

static void hspan(km_image *img, int x0, int x1, int y, km_rgb c)
{
    if (y < 0 || y >= img->height)
        return;
    if (x0 < 0)
        x0 = 0;
    if (x1 >= img->width)
        x1 = img->width - 1;
    for (int x = x0; x <= x1; x++)
        put(img, x, y, c);
}

static void pen(km_image *img, int x, int y, km_rgb c, int t)
{
    int lo = -(t - 1) / 2, hi = t / 2;
    for (int dy = lo; dy <= hi; dy++)
        hspan(img, x + lo, x + hi, y + dy, c);
}

void km_draw_line(km_image *img, int x0, int y0, int x1, int y1, km_rgb c, int thickness)
{
    if (!km_is_u8(img))
        return;
    if (thickness < 1)
        thickness = 1;
    /* clip far-away endpoints so the loop stays bounded */
    const int lim = 4 * KM_IMAGE_MAX_DIM;
    x0 = km_clampi(x0, -lim, lim), y0 = km_clampi(y0, -lim, lim);
    x1 = km_clampi(x1, -lim, lim), y1 = km_clampi(y1, -lim, lim);
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {
        pen(img, x0, y0, c, thickness);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            err += dx;
            y0 += sy;
        }
    }
}

void km_draw_rect(km_image *img, km_box b, km_rgb c, int thickness)
{
    if (!km_is_u8(img) || b.w <= 0 || b.h <= 0)
        return;
    if (thickness < 1)
        thickness = 1;
    for (int t = 0; t < thickness; t++) {
        int x0 = b.x + t, y0 = b.y + t, x1 = b.x + b.w - 1 - t, y1 = b.y + b.h - 1 - t;
        if (x1 < x0 || y1 < y0)
            break;
        hspan(img, x0, x1, y0, c);
        hspan(img, x0, x1, y1, c);
        for (int y = y0; y <= y1; y++) {
            put(img, x0, y, c);
            put(img, x1, y, c);
        }
    }
}

void km_draw_circle(km_image *img, int cx, int cy, int radius, km_rgb c, int thickness)
{
    if (!km_is_u8(img) || radius < 0 || radius > 4 * KM_IMAGE_MAX_DIM)
        return;
    if (thickness <= 0) {
        for (int dy = -radius; dy <= radius; dy++) {
            int half = (int)floor(sqrt((double)radius * radius - (double)dy * dy));
            hspan(img, cx - half, cx + half, cy + dy, c);
        }
        return;
    }
    int x = radius, y = 0, err = 1 - radius;
    while (x >= y) {
        const int pts[8][2] = {{x, y}, {y, x}, {-y, x}, {-x, y}, {-x, -y}, {-y, -x}, {y, -x}, {x, -y}};
        for (int k = 0; k < 8; k++)
            pen(img, cx + pts[k][0], cy + pts[k][1], c, thickness);
        y++;
        if (err < 0) {
            err += 2 * y + 1;
        } else {
            x--;
            err += 2 * (y - x) + 1;
        }
    }
}

static int point_ok(const float *xy, const float *scores, int i, float min_score)
{
    float x = xy[2 * i], y = xy[2 * i + 1];
    if (!(x >= 0) || !(y >= 0) || x > 4 * KM_IMAGE_MAX_DIM || y > 4 * KM_IMAGE_MAX_DIM)
        return 0;
    return !scores || scores[i] >= min_score;
}

void km_draw_skeleton(km_image *img, const float *xy, const float *scores, int npts,
                      const int (*edges)[2], int nedges, float min_score, km_rgb line,
                      km_rgb joint, int thickness)
{
    if (!km_is_u8(img) || !xy || npts <= 0)
        return;
    for (int e = 0; e < nedges; e++) {
        int a = edges[e][0], b = edges[e][1];
        if (a < 0 || b < 0 || a >= npts || b >= npts)
            continue;
        if (!point_ok(xy, scores, a, min_score) || !point_ok(xy, scores, b, min_score))
            continue;
        km_draw_line(img, (int)lrintf(xy[2 * a]), (int)lrintf(xy[2 * a + 1]), (int)lrintf(xy[2 * b]),
                     (int)lrintf(xy[2 * b + 1]), line, thickness);
    }
    int r = thickness + 2;
    for (int i = 0; i < npts; i++)
        if (point_ok(xy, scores, i, min_score))
            km_draw_circle(img, (int)lrintf(xy[2 * i]), (int)lrintf(xy[2 * i + 1]), r, joint, 0);
}
