/*
 * bilateral.c - edge-preserving bilateral filter as cv2.bilateralFilter.
 *
 * Weights: space exp(-r^2 / 2 ss^2) over the offsets inside the circle of
 * the radius, colour exp(-d^2 / 2 sc^2) from a table indexed by the sum of
 * absolute channel differences d (0 .. 255 cn). Sums in float, result
 * rounded to nearest. The loop runs groups of offsets outside and pixels
 * inside so the pixel loop vectorises (table lookups become gathers).
 * Tried and slower: sums kept in registers over 16-pixel blocks (3x), and
 * computing the gray weights with a polynomial exp instead of the table
 * (the compiler would not vectorise it).
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#pragma GCC target("prefer-vector-width=512")
#endif
#include <math.h>

#include "vision/vision_priv.h"

typedef struct {
    const km_image *src;
    km_image *dst;
    int r, nofs;
    const int *ody, *odx;   /* offsets inside the circle */
    const float *space_w;
    const float *color_w;   /* 256 * cn entries */
    int failed;             /* set by a band that could not allocate */
} bil_job;

/* Accumulate eight (gray) or four (RGB) window offsets for a row at once
 * (p[] are the shifted rows, c0 the centre row) so the running sums are
 * read and written once per group of offsets. Integer differences index
 * the colour table (a gather). Unused slots repeat offset 0, weight 0. */
static void bil_gray_offsets8(const uint8_t *const *p, const uint8_t *restrict c0, const float *sw,
                              const float *restrict cw, float *restrict sum, float *restrict wsum, int w)
{
    const uint8_t *restrict p0 = p[0], *restrict p1 = p[1], *restrict p2 = p[2], *restrict p3 = p[3];
    const uint8_t *restrict p4 = p[4], *restrict p5 = p[5], *restrict p6 = p[6], *restrict p7 = p[7];
    float s0 = sw[0], s1 = sw[1], s2 = sw[2], s3 = sw[3], s4 = sw[4], s5 = sw[5], s6 = sw[6], s7 = sw[7];
    for (int x = 0; x < w; x++) {
        int c = c0[x];
        int v0 = p0[x], v1 = p1[x], v2 = p2[x], v3 = p3[x];
        int v4 = p4[x], v5 = p5[x], v6 = p6[x], v7 = p7[x];
        float w0 = s0 * cw[abs(v0 - c)], w1 = s1 * cw[abs(v1 - c)];
        float w2 = s2 * cw[abs(v2 - c)], w3 = s3 * cw[abs(v3 - c)];
        float w4 = s4 * cw[abs(v4 - c)], w5 = s5 * cw[abs(v5 - c)];
        float w6 = s6 * cw[abs(v6 - c)], w7 = s7 * cw[abs(v7 - c)];
        sum[x] += ((w0 * (float)v0 + w1 * (float)v1) + (w2 * (float)v2 + w3 * (float)v3)) +
                  ((w4 * (float)v4 + w5 * (float)v5) + (w6 * (float)v6 + w7 * (float)v7));
        wsum[x] += ((w0 + w1) + (w2 + w3)) + ((w4 + w5) + (w6 + w7));
    }
}

static void bil_rgb_offsets4(const uint8_t *const *p, const uint8_t *restrict c0, const float *sw,
                             const float *restrict cw, float *restrict sum, float *restrict wsum, int w)
{
    const uint8_t *restrict p0 = p[0], *restrict p1 = p[1], *restrict p2 = p[2], *restrict p3 = p[3];
    float s0 = sw[0], s1 = sw[1], s2 = sw[2], s3 = sw[3];
    for (int x = 0; x < w; x++) {
        int cr = c0[3 * x], cg = c0[3 * x + 1], cb = c0[3 * x + 2];
#define BIL_W(q, s) \
    (s * cw[abs(q[3 * x] - cr) + abs(q[3 * x + 1] - cg) + abs(q[3 * x + 2] - cb)])
        float w0 = BIL_W(p0, s0), w1 = BIL_W(p1, s1), w2 = BIL_W(p2, s2), w3 = BIL_W(p3, s3);
#undef BIL_W
        for (int ch = 0; ch < 3; ch++)
            sum[3 * x + ch] += (w0 * (float)p0[3 * x + ch] + w1 * (float)p1[3 * x + ch]) +
                               (w2 * (float)p2[3 * x + ch] + w3 * (float)p3[3 * x + ch]);
        wsum[x] += (w0 + w1) + (w2 + w3);
    }
}

static void bil_rows(void *arg, int y0, int y1)
{
    const bil_job *j = arg;
    int w = j->src->width, h = j->src->height, cn = j->src->channels, r = j->r;
    size_t plen = (size_t)(w + 2 * r) * cn;
    uint8_t *pads = vis_alloc(plen * (size_t)(2 * r + 1), 1);
    float *sum = vis_alloc((size_t)w * (cn + 1), sizeof(float));
    if (!pads || !sum) {
        vis_mark_failed(&j->failed);
        goto out;
    }
    float *wsum = sum + (size_t)w * cn;
    for (int y = y0; y < y1; y++) {
        for (int i = 0; i <= 2 * r; i++)
            vis_pad_row_u8(km_image_row(j->src, km_reflect101(y + i - r, h)), w, cn, r, 0,
                           pads + (size_t)i * plen);
        memset(sum, 0, (size_t)w * (cn + 1) * sizeof(float));
        const uint8_t *restrict c0 = pads + (size_t)r * plen + (size_t)r * cn;
        int group = cn == 1 ? 8 : 4; /* offsets per pass over the row */
        for (int k = 0; k < j->nofs; k += group) {
            const uint8_t *p[8];
            float sw[8];
            for (int i = 0; i < group; i++) {
                int kk = k + i < j->nofs ? k + i : k;
                p[i] = pads + (size_t)(j->ody[kk] + r) * plen + (size_t)(j->odx[kk] + r) * cn;
                sw[i] = k + i < j->nofs ? j->space_w[kk] : 0.0f;
            }
            if (cn == 1)
                bil_gray_offsets8(p, c0, sw, j->color_w, sum, wsum, w);
            else
                bil_rgb_offsets4(p, c0, sw, j->color_w, sum, wsum, w);
        }
        uint8_t *restrict d = km_image_row(j->dst, y);
        if (cn == 1) {
            for (int x = 0; x < w; x++) {
                float v = rintf(sum[x] / wsum[x]); /* rintf inlines; lrintf is a call */
                d[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        } else {
            for (int x = 0; x < w; x++) {
                float inv = 1.0f / wsum[x];
                for (int c = 0; c < 3; c++) {
                    float v = rintf(sum[3 * x + c] * inv);
                    d[3 * x + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            }
        }
    }
out:
    free(pads);
    free(sum);
}

int km_bilateral(const km_image *src, km_image *dst, int d, double sigma_color,
                 double sigma_space, km_pool *pool)
{
    int rc = vis_check_pair(src, dst, "bilateral");
    if (rc)
        return rc;
    if (!(sigma_color > 0) || !(sigma_space > 0) || sigma_space > 1000 || sigma_color > 1e6)
        return km_seterr(KM_EINVAL, "bilateral: sigmas must be > 0 (got %g, %g)", sigma_color, sigma_space);
    int r = d > 0 ? d / 2 : (int)lrint(sigma_space * 1.5);
    if (r < 1)
        r = 1;
    if (r > 64)
        return km_seterr(KM_EINVAL, "bilateral: diameter %d too large (max 129)", 2 * r + 1);
    int cn = src->channels, n = (2 * r + 1) * (2 * r + 1), nofs = 0;
    int *ody = malloc((size_t)n * 2 * sizeof(int));
    float *sw = malloc((size_t)n * sizeof(float));
    float *cw = malloc((size_t)256 * cn * sizeof(float));
    km_image *copy = NULL;
    rc = KM_ENOMEM;
    if (!ody || !sw || !cw)
        goto out;
    if (dst->data == src->data) {
        if (!(copy = km_image_clone(src)))
            goto out;
        src = copy;
    }
    double gs = -0.5 / (sigma_space * sigma_space), gc = -0.5 / (sigma_color * sigma_color);
    for (int i = 0; i < 256 * cn; i++)
        cw[i] = (float)exp(i * i * gc);
    for (int dy = -r; dy <= r; dy++)
        for (int dx = -r; dx <= r; dx++) {
            double rr = sqrt((double)dy * dy + (double)dx * dx);
            if (rr > r)
                continue;
            ody[nofs] = dy;
            ody[n + nofs] = dx;
            sw[nofs++] = (float)exp(rr * rr * gs);
        }
    bil_job j = {src, dst, r, nofs, ody, ody + n, sw, cw, 0};
    vis_parallel_rows(pool, src->height, bil_rows, &j);
    rc = j.failed ? km_seterr(KM_ENOMEM, "bilateral: out of memory for row buffers") : 0;
out:
    free(ody);
    free(sw);
    free(cw);
    km_image_free(copy);
    return rc;
}
