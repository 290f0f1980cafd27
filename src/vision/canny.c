/*
 * canny.c - Canny edge detector matching cv2.Canny.
 *
 * Per band of rows, one row at a time (no full-size gradient images):
 * Sobel dx, dy (replicate border, as OpenCV), gradient
 * magnitude (L1 |dx|+|dy| or L2 dx^2+dy^2 against squared thresholds),
 * non-maximum suppression along the gradient direction quantised with
 * tan(22.5 deg) in 15-bit fixed point and OpenCV's tie rules (> on one
 * side, >= on the other). Hysteresis then follows 8-connected weak pixels
 * from the strong ones with an explicit stack on the calling thread.
 * The map uses 0 = not an edge, 1 = weak candidate, 2 = edge, with a
 * one-pixel frame of 0 so neighbour lookups need no bounds checks.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#pragma GCC target("prefer-vector-width=512")
#endif
#include <math.h>

#include "vision/vision_priv.h"

typedef struct {
    const km_image *src;
    int aperture;
    uint8_t *map;              /* (w + 2) x (h + 2) */
    size_t mstep;
    int low, high, l2;
    int failed; /* set by a band that could not allocate */
} canny_job;

/* Per-band scratch: one row of dx, dy and the Sobel temporary. */
typedef struct {
    int16_t *a, *b, *tmp;
} canny_rowbuf;

/* Magnitude of row y (0 outside the image) into mag[1..w], picking per
 * pixel the channel of largest magnitude; chosen dx, dy into gx, gy. */
static void canny_mag_row(const canny_job *j, const canny_rowbuf *rb, int y, int *restrict mag,
                          int16_t *restrict gx, int16_t *restrict gy)
{
    int w = j->src->width, h = j->src->height, cn = j->src->channels;
    mag[0] = mag[w + 1] = 0;
    if (y < 0 || y >= h) {
        memset(mag, 0, (size_t)(w + 2) * sizeof *mag);
        return;
    }
    vis_sobel_xy_row(j->src, y, j->aperture, 1, rb->a, rb->b, rb->tmp);
    const int16_t *restrict a = rb->a;
    const int16_t *restrict b = rb->b;
    int *restrict m = mag + 1;
    if (cn == 1) {
        if (j->l2)
            for (int x = 0; x < w; x++)
                m[x] = a[x] * a[x] + b[x] * b[x];
        else
            for (int x = 0; x < w; x++)
                m[x] = abs(a[x]) + abs(b[x]);
        memcpy(gx, a, (size_t)w * sizeof *gx);
        memcpy(gy, b, (size_t)w * sizeof *gy);
        return;
    }
    /* colour: the channel of largest magnitude (first on ties), written
     * branch-free so the loop vectorises */
    for (int x = 0; x < w; x++) {
        int a0 = a[3 * x], a1 = a[3 * x + 1], a2 = a[3 * x + 2];
        int b0 = b[3 * x], b1 = b[3 * x + 1], b2 = b[3 * x + 2];
        int v0 = j->l2 ? a0 * a0 + b0 * b0 : abs(a0) + abs(b0);
        int v1 = j->l2 ? a1 * a1 + b1 * b1 : abs(a1) + abs(b1);
        int v2 = j->l2 ? a2 * a2 + b2 * b2 : abs(a2) + abs(b2);
        int best = v0, bx = a0, by = b0;
        int t1 = v1 > best;
        best = t1 ? v1 : best;
        bx = t1 ? a1 : bx;
        by = t1 ? b1 : by;
        int t2 = v2 > best;
        best = t2 ? v2 : best;
        bx = t2 ? a2 : bx;
        by = t2 ? b2 : by;
        m[x] = best;
        gx[x] = (int16_t)bx;
        gy[x] = (int16_t)by;
    }
}

#define TG22 13573 /* tan(22.5 deg) * 2^15 */

static void canny_nms_row(const canny_job *j, int y, const int *mp, const int *mc, const int *mn,
                          const int16_t *gx, const int16_t *gy)
{
    int w = j->src->width;
    uint8_t *restrict map = j->map + (size_t)(y + 1) * j->mstep + 1;
    int low = j->low, high = j->high;
    mp++, mc++, mn++; /* index -1 .. w valid */
    /* Most pixels fail m > low, so the branchy form is the fast one (a
     * branch-free vectorised version was several times slower). */
    for (int x = 0; x < w; x++) {
        int m = mc[x];
        uint8_t out = 0;
        if (m > low) {
            int xs = gx[x], ys = gy[x];
            int ax = abs(xs), ay = abs(ys) << 15;
            int tg22x = ax * TG22;
            int keep;
            if (ay < tg22x) {
                keep = m > mc[x - 1] && m >= mc[x + 1];
            } else {
                int tg67x = tg22x + (ax << 16);
                if (ay > tg67x) {
                    keep = m > mp[x] && m >= mn[x];
                } else {
                    int s = (xs ^ ys) < 0 ? -1 : 1;
                    keep = m > mp[x - s] && m > mn[x + s];
                }
            }
            if (keep)
                out = m > high ? 2 : 1;
        }
        map[x] = out;
    }
}

static void canny_rows(void *arg, int y0, int y1)
{
    const canny_job *j = arg;
    int w = j->src->width, cn = j->src->channels;
    int *mag = vis_alloc((size_t)(w + 2) * 3, sizeof(int));
    int16_t *ga = vis_alloc((size_t)w * 2, sizeof(int16_t));
    int16_t *gb = vis_alloc((size_t)w * 2, sizeof(int16_t));
    int16_t *sob = vis_alloc((size_t)w * cn * 2 + (size_t)(w + 10) * cn, sizeof(int16_t));
    if (!mag || !ga || !gb || !sob)
        vis_mark_failed(&j->failed);
    else {
        canny_rowbuf rb = {sob, sob + (size_t)w * cn, sob + (size_t)w * cn * 2};
        int *rows[3] = {mag, mag + (w + 2), mag + 2 * (w + 2)};
        int16_t *cur = ga, *next = gb;
        canny_mag_row(j, &rb, y0 - 1, rows[0], next, next + w);
        canny_mag_row(j, &rb, y0, rows[1], cur, cur + w);
        for (int y = y0; y < y1; y++) {
            canny_mag_row(j, &rb, y + 1, rows[2], next, next + w);
            canny_nms_row(j, y, rows[0], rows[1], rows[2], cur, cur + w);
            int *t = rows[0];
            rows[0] = rows[1];
            rows[1] = rows[2];
            rows[2] = t;
            int16_t *g = cur;
            cur = next;
            next = g;
        }
    }
    free(mag);
    free(ga);
    free(gb);
    free(sob);
}

static int canny_hysteresis(uint8_t *map, size_t mstep, int w, int h)
{
    size_t cap = (size_t)w * h / 4 + 1024, n = 0;
    uint8_t **stack = malloc(cap * sizeof *stack);
    if (!stack)
        return km_seterr(KM_ENOMEM, "canny: out of memory for the edge stack");
    const ptrdiff_t off[8] = {-1, 1, -(ptrdiff_t)mstep - 1, -(ptrdiff_t)mstep, -(ptrdiff_t)mstep + 1,
                              (ptrdiff_t)mstep - 1, (ptrdiff_t)mstep, (ptrdiff_t)mstep + 1};
    for (int y = 0; y < h; y++) {
        uint8_t *row = map + (size_t)(y + 1) * mstep + 1;
        /* memchr finds the next strong pixel many bytes at a time */
        for (uint8_t *hit = memchr(row, 2, (size_t)w); hit;
             hit = hit + 1 < row + w ? memchr(hit + 1, 2, (size_t)(row + w - hit - 1)) : NULL) {
            stack[n++] = hit;
            while (n) {
                uint8_t *p = stack[--n];
                for (int k = 0; k < 8; k++) {
                    uint8_t *q = p + off[k];
                    if (*q != 1)
                        continue;
                    *q = 2;
                    if (n == cap) {
                        size_t nc = cap * 2;
                        uint8_t **ns = realloc(stack, nc * sizeof *ns);
                        if (!ns) {
                            free(stack);
                            return km_seterr(KM_ENOMEM, "canny: out of memory for the edge stack");
                        }
                        stack = ns;
                        cap = nc;
                    }
                    stack[n++] = q;
                }
            }
        }
    }
    free(stack);
    return 0;
}

int km_canny(const km_image *src, km_image *dst, double low, double high, int aperture,
             int l2gradient, km_pool *pool)
{
    if (!km_is_u8(src) || !dst || dst->fmt != KM_PIX_GRAY8 || dst->width != src->width ||
        dst->height != src->height)
        return km_seterr(KM_EINVAL, "canny: src 8-bit and dst GRAY8 of the same size required");
    if (aperture != 3 && aperture != 5)
        return km_seterr(KM_EINVAL, "canny: aperture %d must be 3 or 5", aperture);
    if (!(low >= 0) || !(high >= 0))
        return km_seterr(KM_EINVAL, "canny: thresholds must be >= 0 (got %g, %g)", low, high);
    if (low > high) {
        double t = low;
        low = high;
        high = t;
    }
    if (l2gradient) {
        low = low > 32767 ? 32767 : low;
        high = high > 32767 ? 32767 : high;
        low *= low;
        high *= high;
    }
    int w = src->width, h = src->height, rc = KM_ENOMEM;
    size_t mstep = (size_t)w + 2;
    uint8_t *map = vis_alloc(mstep * ((size_t)h + 2), 1);
    if (!map)
        goto out;
    /* only the one-pixel frame needs zeroing: NMS writes every inner pixel */
    memset(map, 0, mstep);
    memset(map + mstep * ((size_t)h + 1), 0, mstep);
    for (int y = 1; y <= h; y++)
        map[mstep * (size_t)y] = map[mstep * (size_t)y + mstep - 1] = 0;
    canny_job j = {src, aperture, map, mstep, (int)floor(low), (int)floor(high), l2gradient != 0, 0};
    vis_parallel_rows(pool, h, canny_rows, &j);
    if (j.failed) {
        rc = km_seterr(KM_ENOMEM, "canny: out of memory for row buffers");
        goto out;
    }
    if ((rc = canny_hysteresis(map, mstep, w, h)))
        goto out;
    for (int y = 0; y < h; y++) {
        const uint8_t *restrict m = map + (size_t)(y + 1) * mstep + 1;
        uint8_t *restrict d = km_image_row(dst, y);
        for (int x = 0; x < w; x++)
            d[x] = (uint8_t)(m[x] == 2 ? 255 : 0);
    }
    rc = 0;
out:
    free(map);
    return rc;
}
