/*
 * motion.c - motion mask and boxes from two frames, like the seed's
 * motion.py: gray, optional Gaussian blur, absolute difference, threshold,
 * opening (erode + dilate) against speckle noise, a dilation that joins the
 * parts of one moving body, then bounding boxes of the 8-connected
 * components (two-pass union-find labelling).
 */
#include "vision/vision_priv.h"

static int prep_gray(const km_image *src, int blur, km_image **out, km_pool *pool)
{
    km_image *g = vis_to_gray(src);
    if (!g)
        return KM_ENOMEM;
    if (blur > 1) {
        int rc = km_gaussian_blur(g, g, blur | 1, 0, pool);
        if (rc) {
            km_image_free(g);
            return rc;
        }
    }
    *out = g;
    return 0;
}

static int uf_root(int *p, int i)
{
    while (p[i] != i) {
        p[i] = p[p[i]];
        i = p[i];
    }
    return i;
}

static int cmp_box_area(const void *a, const void *b)
{
    const km_box *x = a, *y = b;
    long ax = (long)x->w * x->h, ay = (long)y->w * y->h;
    return ax < ay ? 1 : ax > ay ? -1 : (x->y != y->y ? x->y - y->y : x->x - y->x);
}

int km_connected_boxes(const km_image *mask, int min_area, km_box **boxes, int *nboxes)
{
    *boxes = NULL;
    *nboxes = 0;
    if (!mask || mask->fmt != KM_PIX_GRAY8)
        return km_seterr(KM_EINVAL, "connected_boxes: mask must be GRAY8");
    int w = mask->width, h = mask->height;
    size_t n = (size_t)w * h;
    int *label = malloc(n * sizeof *label);
    int *parent = malloc((n / 2 + 2) * sizeof *parent);
    if (!label || !parent) {
        free(label), free(parent);
        return km_seterr(KM_ENOMEM, "connected_boxes: out of memory for %dx%d", w, h);
    }
    int next = 0;
    size_t cap_labels = n / 2 + 2;
    for (int y = 0; y < h; y++) {
        const uint8_t *m = km_image_row(mask, y);
        int *l = label + (size_t)y * w, *up = y ? l - w : NULL;
        for (int x = 0; x < w; x++) {
            l[x] = -1;
            if (!m[x])
                continue;
            int best = -1;
            int cand[4] = {x ? l[x - 1] : -1, up && x ? up[x - 1] : -1, up ? up[x] : -1,
                           up && x + 1 < w ? up[x + 1] : -1};
            for (int k = 0; k < 4; k++) {
                if (cand[k] < 0)
                    continue;
                int r = uf_root(parent, cand[k]);
                if (best < 0)
                    best = r;
                else if (r != best) {
                    if (r < best)
                        parent[best] = r, best = r;
                    else
                        parent[r] = best;
                }
            }
            if (best < 0) {
                if ((size_t)next >= cap_labels)
                    best = 0; /* cannot happen: 8-connectivity needs < n/2 seeds */
                else {
                    parent[next] = next;
                    best = next++;
                }
            }
            l[x] = best;
        }
    }
    int *area = calloc((size_t)next + 1, sizeof *area);
    km_box *bx = calloc((size_t)next + 1, sizeof *bx);
    int *x1 = malloc(((size_t)next + 1) * 2 * sizeof *x1);
    if (!area || !bx || !x1) {
        free(label), free(parent), free(area), free(bx), free(x1);
        return km_seterr(KM_ENOMEM, "connected_boxes: out of memory");
    }
    for (int i = 0; i < next; i++) {
        bx[i] = (km_box){w, h, 0, 0};
        x1[2 * i] = x1[2 * i + 1] = -1;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int l = label[(size_t)y * w + x];
            if (l < 0)
                continue;
            int r = uf_root(parent, l);
            area[r]++;
            if (x < bx[r].x)
                bx[r].x = x;
            if (y < bx[r].y)
                bx[r].y = y;
            if (x > x1[2 * r])
                x1[2 * r] = x;
            if (y > x1[2 * r + 1])
                x1[2 * r + 1] = y;
        }
    int out = 0;
    for (int i = 0; i < next; i++)
        if (area[i] > 0 && area[i] >= min_area) {
            km_box b = {bx[i].x, bx[i].y, x1[2 * i] - bx[i].x + 1, x1[2 * i + 1] - bx[i].y + 1};
            bx[out++] = b;
        }
    free(label), free(parent), free(area), free(x1);
    if (!out) {
        free(bx);
        return 0;
    }
    qsort(bx, (size_t)out, sizeof *bx, cmp_box_area);
    *boxes = bx;
    *nboxes = out;
    return 0;
}

int km_motion_detect(const km_image *prev, const km_image *cur, const km_motion_opts *opts,
                     km_image *mask, km_box **boxes, int *nboxes, km_pool *pool)
{
    if (boxes)
        *boxes = NULL;
    if (nboxes)
        *nboxes = 0;
    if (!km_is_u8(prev) || !km_is_u8(cur) || prev->width != cur->width || prev->height != cur->height)
        return km_seterr(KM_EINVAL, "motion: frames must be 8-bit images of the same size");
    if (mask && (mask->fmt != KM_PIX_GRAY8 || mask->width != cur->width || mask->height != cur->height))
        return km_seterr(KM_EINVAL, "motion: mask must be GRAY8 %dx%d", cur->width, cur->height);
    km_motion_opts o = KM_MOTION_OPTS_DEFAULT;
    if (opts)
        o = *opts;
    if (o.threshold < 0 || o.threshold > 254 || o.blur_ksize < 0 || o.blur_ksize > 31 || o.open_r < 0 ||
        o.open_r > 16 || o.dilate_r < 0 || o.dilate_r > 32 || o.min_area < 0)
        return km_seterr(KM_EINVAL, "motion: threshold 0..254, blur 0..31, open 0..16, dilate 0..32, "
                                    "min_area >= 0");
    km_image *a = NULL, *b = NULL, *m = NULL, *t = NULL;
    int rc;
    if ((rc = prep_gray(prev, o.blur_ksize, &a, pool)) || (rc = prep_gray(cur, o.blur_ksize, &b, pool)))
        goto out;
    m = km_image_new(cur->width, cur->height, KM_PIX_GRAY8, 0);
    t = km_image_new(cur->width, cur->height, KM_PIX_GRAY8, 0);
    if (!m || !t) {
        rc = KM_ENOMEM;
        goto out;
    }
    for (int y = 0; y < cur->height; y++) {
        const uint8_t *restrict p = km_image_row(a, y), *restrict q = km_image_row(b, y);
        uint8_t *restrict d = km_image_row(m, y);
        for (int x = 0; x < cur->width; x++) {
            int v = p[x] > q[x] ? p[x] - q[x] : q[x] - p[x];
            d[x] = (uint8_t)(v > o.threshold ? 255 : 0);
        }
    }
    if (o.open_r > 0 &&
        ((rc = km_erode(m, t, o.open_r, pool)) || (rc = km_dilate(t, m, o.open_r, pool))))
        goto out;
    if (o.dilate_r > 0 && (rc = km_dilate(m, m, o.dilate_r, pool)))
        goto out;
    if (mask)
        for (int y = 0; y < cur->height; y++)
            memcpy(km_image_row(mask, y), km_image_row(m, y), (size_t)cur->width);
    if (boxes && nboxes)
        rc = km_connected_boxes(m, o.min_area, boxes, nboxes);
out:
    km_image_free(a), km_image_free(b), km_image_free(m), km_image_free(t);
    return rc;
}
