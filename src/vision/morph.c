/*
 * morph.c - dilation and erosion with a square structuring element.
 *
 * A (2r+1)^2 square is separable: a horizontal max (min) over 2r+1 pixels
 * then a vertical one. Pixels outside the image are ignored, which is what
 * OpenCV's default border value for erode/dilate amounts to. Rows of the
 * horizontal pass are recomputed per output row (2r+1 of them), which is
 * cheap for the small radii motion masks use.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#pragma GCC target("prefer-vector-width=512")
#endif
#include "vision/vision_priv.h"

typedef struct {
    const km_image *src;
    km_image *dst;
    int r, is_max;
    int failed; /* set by a band that could not allocate */
} morph_job;

static void morph_hline(const morph_job *j, const uint8_t *s, uint8_t *restrict pad, uint8_t *restrict out)
{
    int w = j->src->width, cn = j->src->channels, r = j->r, n = w * cn;
    uint8_t fill = j->is_max ? 0 : 255;
    memset(pad, fill, (size_t)r * cn);
    memcpy(pad + (size_t)r * cn, s, (size_t)n);
    memset(pad + (size_t)(r + w) * cn, fill, (size_t)r * cn);
    memcpy(out, pad, (size_t)n);
    for (int k = 1; k <= 2 * r; k++) {
        const uint8_t *restrict p = pad + (size_t)k * cn;
        if (j->is_max)
            for (int x = 0; x < n; x++)
                out[x] = out[x] > p[x] ? out[x] : p[x];
        else
            for (int x = 0; x < n; x++)
                out[x] = out[x] < p[x] ? out[x] : p[x];
    }
}

static void morph_rows(void *arg, int y0, int y1)
{
    const morph_job *j = arg;
    int w = j->src->width, h = j->src->height, cn = j->src->channels, r = j->r, n = w * cn;
    uint8_t *pad = vis_alloc((size_t)(w + 2 * r) * cn, 1);
    uint8_t *tmp = vis_alloc((size_t)n, 1);
    if (!pad || !tmp) {
        vis_mark_failed(&j->failed);
        goto out;
    }
    for (int y = y0; y < y1; y++) {
        uint8_t *restrict d = km_image_row(j->dst, y);
        int first = 1;
        for (int yy = y - r; yy <= y + r; yy++) {
            if (yy < 0 || yy >= h)
                continue;
            morph_hline(j, km_image_row(j->src, yy), pad, first ? d : tmp);
            if (!first) {
                if (j->is_max)
                    for (int x = 0; x < n; x++)
                        d[x] = d[x] > tmp[x] ? d[x] : tmp[x];
                else
                    for (int x = 0; x < n; x++)
                        d[x] = d[x] < tmp[x] ? d[x] : tmp[x];
            }
            first = 0;
        }
    }
out:
    free(pad);
    free(tmp);
}

static int morph(const km_image *src, km_image *dst, int r, int is_max, km_pool *pool)
{
    int rc = vis_check_pair(src, dst, is_max ? "dilate" : "erode");
    if (rc)
        return rc;
    if (r < 0 || r > 64)
        return km_seterr(KM_EINVAL, "%s: radius %d outside 0..64", is_max ? "dilate" : "erode", r);
    km_image *copy = NULL;
    if (dst->data == src->data) {
        if (!(copy = km_image_clone(src)))
            return KM_ENOMEM;
        src = copy;
    }
    morph_job j = {src, dst, r, is_max, 0};
    vis_parallel_rows(pool, src->height, morph_rows, &j);
    km_image_free(copy);
    return j.failed ? km_seterr(KM_ENOMEM, "morphology: out of memory for row buffers") : 0;
}

int km_dilate(const km_image *src, km_image *dst, int r, km_pool *pool)
{
    return morph(src, dst, r, 1, pool);
}

int km_erode(const km_image *src, km_image *dst, int r, km_pool *pool)
{
    return morph(src, dst, r, 0, pool);
}
