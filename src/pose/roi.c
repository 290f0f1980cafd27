/*
 * roi.c - rotated regions of interest and sampling them into the float
 * tensors the pose networks take.
 *
 * Why here and not in media/: the networks need the exact geometry their
 * training pipelines used (MediaPipe's rotated crops with black borders,
 * letterboxing for MoveNet), and every keypoint is mapped back through the
 * same transform, so the forward and inverse maps live side by side.
 * Bilinear sampling matches the oracle's; the antialiased path (a triangle
 * filter as wide as the downscale factor) approximates swscale's bilinear
 * downscale used by the MoveNet oracle.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/pose.h"

km_roi km_roi_letterbox(int w, int h)
{
    float s = (float)(w > h ? w : h);
    km_roi r = {(float)w * 0.5f, (float)h * 0.5f, s, s, 0.0f};
    return r;
}

static float normalize_angle(float a)
{
    const float two_pi = 6.28318530717958647692f;
    return a - two_pi * floorf((a + 3.14159265358979323846f) / two_pi);
}

km_roi km_roi_from_points(float x0, float y0, float x1, float y1, float scale)
{
    float dx = x1 - x0, dy = y1 - y0;
    float side = 2.0f * sqrtf(dx * dx + dy * dy) * scale;
    km_roi r = {x0, y0, side, side,
                normalize_angle(1.57079632679489661923f - atan2f(-dy, dx))};
    return r;
}

void km_roi_to_image(const km_roi *roi, int out_w, int out_h, float u, float v,
                     float *x, float *y)
{
    float c = cosf(roi->rot), s = sinf(roi->rot);
    float a = (u / (float)out_w - 0.5f) * roi->w;
    float b = (v / (float)out_h - 0.5f) * roi->h;
    *x = roi->cx + a * c - b * s;
    *y = roi->cy + a * s + b * c;
}

void km_roi_from_image(const km_roi *roi, int out_w, int out_h, float x, float y,
                       float *u, float *v)
{
    float c = cosf(roi->rot), s = sinf(roi->rot);
    float dx = x - roi->cx, dy = y - roi->cy;
    float a = dx * c + dy * s;
    float b = -dx * s + dy * c;
    *u = (a / roi->w + 0.5f) * (float)out_w;
    *v = (b / roi->h + 0.5f) * (float)out_h;
}

static inline float finish(float v, float scale, float offset, int round_int)
{
    if (round_int)
        v = floorf(v + 0.5f);
    return v * scale + offset;
}

/* One bilinear sample at (x, y) in pixel-index coordinates, taps outside
 * the image black (the slow path, for borders). */
static void tap_border(const km_image *img, float x, float y, float acc[3])
{
    float xf = floorf(x), yf = floorf(y);
    float fx = x - xf, fy = y - yf;
    acc[0] = acc[1] = acc[2] = 0.0f;
    if (!(xf >= -1.0f && yf >= -1.0f && xf < (float)img->width && yf < (float)img->height))
        return;
    int x0 = (int)xf, y0 = (int)yf;
    const float wt[4] = {(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy};
    for (int t = 0; t < 4; t++) {
        int xx = x0 + (t & 1), yy = y0 + (t >> 1);
        if (xx < 0 || yy < 0 || xx >= img->width || yy >= img->height)
            continue;
        const uint8_t *p = km_image_row(img, yy) + 3 * (size_t)xx;
        acc[0] += wt[t] * p[0];
        acc[1] += wt[t] * p[1];
        acc[2] += wt[t] * p[2];
    }
}

/* Point-sampled bilinear, black outside (the oracle's sampleROI). The
 * sample position moves by a constant step along an output row, so it is
 * stepped, and interior samples skip the bounds checks. */
static void sample_bilinear(const km_image *img, const km_roi *roi, int ow, int oh,
                            float scale, float offset, int round_int, float *out)
{
    float c = cosf(roi->rot), s = sinf(roi->rot);
    float sx = roi->w / (float)ow, sy = roi->h / (float)oh;
    float xi = c * sx, yi = s * sx;     /* step per output column */
    float xj = -s * sy, yj = c * sy;    /* step per output row */
    float wlim = (float)(img->width - 1), hlim = (float)(img->height - 1);
    for (int j = 0; j < oh; j++) {
        float b = ((float)j + 0.5f) - 0.5f * (float)oh, a0 = 0.5f - 0.5f * (float)ow;
        float xr = roi->cx + a0 * xi + b * xj - 0.5f;
        float yr = roi->cy + a0 * yi + b * yj - 0.5f;
        float *o = out + 3 * (size_t)j * (size_t)ow;
        for (int i = 0; i < ow; i++, o += 3) {
            float x = xr + (float)i * xi, y = yr + (float)i * yi;
            float acc[3];
            if (x >= 0.0f && y >= 0.0f && x < wlim && y < hlim) {
                int x0 = (int)x, y0 = (int)y;
                float fx = x - (float)x0, fy = y - (float)y0;
                const uint8_t *p0 = km_image_row(img, y0) + 3 * (size_t)x0;
                const uint8_t *p1 = p0 + img->stride;
                for (int k = 0; k < 3; k++) {
                    float top = (float)p0[k] + fx * (float)(p0[k + 3] - p0[k]);
                    float bot = (float)p1[k] + fx * (float)(p1[k + 3] - p1[k]);
                    acc[k] = top + fy * (bot - top);
                }
            } else {
                tap_border(img, x, y, acc);
            }
            for (int k = 0; k < 3; k++)
                o[k] = finish(acc[k], scale, offset, round_int);
        }
    }
}

/* Filter taps of one output sample along one axis: source indices
 * [first, first + n) with weights w[], normalised over all taps (taps
 * outside the image are kept in the normaliser, so borders fade to black). */
typedef struct {
    int first, n;
    float *w;
} taps;

static int make_taps(float start, float step, int nout, int limit, taps *t, float **pool)
{
    float r = step > 1.0f ? step : 1.0f;
    int maxn = (int)ceilf(2.0f * r) + 2;
    float *w = malloc(sizeof(float) * (size_t)maxn * (size_t)nout);
    if (!w)
        return km_seterr(KM_ENOMEM, "roi sample: out of memory");
    *pool = w;
    for (int i = 0; i < nout; i++) {
        float centre = start + ((float)i + 0.5f) * step - 0.5f;
        int lo = (int)ceilf(centre - r), hi = (int)floorf(centre + r);
        if (hi - lo + 1 > maxn)
            hi = lo + maxn - 1;
        float *wi = w + (size_t)i * (size_t)maxn, sum = 0.0f;
        int n = 0;
        for (int j = lo; j <= hi; j++) {
            float v = 1.0f - fabsf((float)j - centre) / r;
            if (v < 0.0f)
                v = 0.0f;
            wi[n++] = v;
            sum += v;
        }
        for (int q = 0; q < n; q++)
            wi[q] = sum > 0.0f ? wi[q] / sum : 0.0f;
        /* clip to the image: outside pixels are black (weight dropped) */
        int skip = lo < 0 ? -lo : 0;
        int last = hi >= limit ? limit - 1 : hi;
        t[i].first = lo + skip;
        t[i].n = last - (lo + skip) + 1;
        if (t[i].n < 0)
            t[i].n = 0;
        t[i].w = wi + skip;
    }
    return 0;
}

/* acc[0..n) += w * src[0..n) (uint8). Blocks of 16 with a fixed trip count
 * so that -O2's cheap vectoriser takes them. */
static void axpy_u8(float *restrict acc, const uint8_t *restrict src, float w, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++)
            acc[i + (size_t)k] += w * (float)src[i + (size_t)k];
    for (; i < n; i++)
        acc[i] += w * (float)src[i];
}

/* Separable triangle filter for unrotated downscales: per output row, the
 * vertical taps are summed over whole source rows (contiguous, vectorised)
 * into one float row, then the horizontal taps run on that row. */
static int sample_antialias(const km_image *img, const km_roi *roi, int ow, int oh,
                            float scale, float offset, int round_int, float *out)
{
    taps *tx = calloc((size_t)ow, sizeof *tx), *ty = calloc((size_t)oh, sizeof *ty);
    float *px = NULL, *py = NULL, *row = NULL;
    int rc = KM_ENOMEM;
    if (!tx || !ty)
        goto done;
    if ((rc = make_taps(roi->cx - roi->w * 0.5f, roi->w / (float)ow, ow, img->width, tx, &px)) ||
        (rc = make_taps(roi->cy - roi->h * 0.5f, roi->h / (float)oh, oh, img->height, ty, &py)))
        goto done;
    rc = KM_ENOMEM;
    size_t rowlen = 3 * (size_t)img->width;
    row = malloc(sizeof(float) * rowlen);
    if (!row)
        goto done;
    for (int j = 0; j < oh; j++) {
        memset(row, 0, sizeof(float) * rowlen);
        for (int q = 0; q < ty[j].n; q++)
            axpy_u8(row, km_image_row(img, ty[j].first + q), ty[j].w[q], rowlen);
        float *o = out + 3 * (size_t)j * (size_t)ow;
        for (int i = 0; i < ow; i++, o += 3) {
            float a0 = 0, a1 = 0, a2 = 0;
            const float *p = row + 3 * (size_t)tx[i].first;
            for (int q = 0; q < tx[i].n; q++, p += 3) {
                float w = tx[i].w[q];
                a0 += w * p[0];
                a1 += w * p[1];
                a2 += w * p[2];
            }
            o[0] = finish(a0, scale, offset, round_int);
            o[1] = finish(a1, scale, offset, round_int);
            o[2] = finish(a2, scale, offset, round_int);
        }
    }
    rc = 0;
done:
    if (rc == KM_ENOMEM)
        km_seterr(KM_ENOMEM, "roi sample: out of memory");
    free(row);
    free(px);
    free(py);
    free(tx);
    free(ty);
    return rc;
}

int km_roi_sample(const km_image *img, const km_roi *roi, int out_w, int out_h,
                  float scale, float offset, int antialias, int round_int,
                  float *out)
{
    if (!img || !roi || !out || img->fmt != KM_PIX_RGB24)
        return km_seterr(KM_EINVAL, "roi sample: need an RGB24 image");
    if (out_w <= 0 || out_h <= 0 || out_w > 4096 || out_h > 4096)
        return km_seterr(KM_EINVAL, "roi sample: output size %dx%d out of range", out_w, out_h);
    if (!(roi->w > 0.0f && roi->h > 0.0f && roi->w < 1e6f && roi->h < 1e6f) ||
        !isfinite(roi->cx) || !isfinite(roi->cy) || !isfinite(roi->rot))
        return km_seterr(KM_EINVAL, "roi sample: bad region");
    int down = roi->w > (float)out_w * 1.001f || roi->h > (float)out_h * 1.001f;
    if (antialias && roi->rot == 0.0f && down &&
        roi->w < 4.0f * (float)KM_IMAGE_MAX_DIM && roi->h < 4.0f * (float)KM_IMAGE_MAX_DIM)
        return sample_antialias(img, roi, out_w, out_h, scale, offset, round_int, out);
    sample_bilinear(img, roi, out_w, out_h, scale, offset, round_int, out);
    return 0;
}
