/*
 * flow.c - dense optical flow by pyramidal Lucas-Kanade, and its HSV
 * picture.
 *
 * Why dense LK rather than Farneback: per pixel it needs only box sums of
 * gradient products (separable, vectorisable), a bilinear warp and a 2x2
 * solve, so it is several times cheaper at equal accuracy on the smooth,
 * textured motion of people and cameras. Per level (coarse to fine, each
 * half the size of the next, Gaussian 1-4-6-4-1 before decimation):
 *   - Scharr-weighted gradients Ix, Iy of the previous frame and the box
 *     sums (window 2r+1) of Ix^2, IxIy, Iy^2 (a fixed 2x2 matrix per pixel);
 *   - `iterations` times: warp the next frame by the current flow
 *     (bilinear, clamped), It = warped - prev, linearise each residual back
 *     to zero flow (r = It - Ix u - Iy v) so neighbours moving differently
 *     are compared at the centre pixel's flow, box sums of Ix r and Iy r,
 *     and solve the 2x2 system for the new flow (lightly regularised
 *     towards the current one, at most 2 px change a step).
 * The coarser level's flow, doubled and bilinearly upsampled, starts the
 * finer one. Box sums skip pixels outside the image.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#pragma GCC target("prefer-vector-width=512")
#endif
#include <math.h>

#include "vision/vision_priv.h"

#define FLOW_MAX_LEVELS 8

typedef struct {
    int w, h;
    float *i0, *i1;              /* prev, next */
} flow_level;

typedef struct {
    int w, h, r;
    const float *i0, *i1;
    float *ix, *iy, *axx, *axy, *ayy, *u, *v, *bx, *by, *px, *py, *tmp;
} flow_state;

/* ----------------------------------------------------------- helpers */

static float *plane_alloc(int w, int h)
{
    return vis_alloc((size_t)w * h, sizeof(float));
}

static void to_float_gray(const km_image *g, float *out)
{
    for (int y = 0; y < g->height; y++) {
        const uint8_t *s = km_image_row(g, y);
        float *d = out + (size_t)y * g->width;
        for (int x = 0; x < g->width; x++)
            d[x] = s[x];
    }
}

/* 5-tap Gaussian then keep even pixels; clamped borders. */
static void pyr_down(const float *src, int w, int h, float *dst, int dw, int dh)
{
    static const float k[5] = {1 / 16.f, 4 / 16.f, 6 / 16.f, 4 / 16.f, 1 / 16.f};
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            float s = 0;
            for (int j = 0; j < 5; j++) {
                const float *row = src + (size_t)km_clampi(2 * y + j - 2, 0, h - 1) * w;
                float rs = 0;
                for (int i = 0; i < 5; i++)
                    rs += k[i] * row[km_clampi(2 * x + i - 2, 0, w - 1)];
                s += k[j] * rs;
            }
            dst[(size_t)y * dw + x] = s;
        }
}

static float sample(const float *img, int w, int h, float x, float y)
{
    if (x < 0)
        x = 0;
    if (y < 0)
        y = 0;
    if (x > w - 1)
        x = (float)(w - 1);
    if (y > h - 1)
        y = (float)(h - 1);
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    float fx = x - x0, fy = y - y0;
    const float *r0 = img + (size_t)y0 * w, *r1 = img + (size_t)y1 * w;
    float a = r0[x0] + fx * (r0[x1] - r0[x0]);
    float b = r1[x0] + fx * (r1[x1] - r1[x0]);
    return a + fy * (b - a);
}

/* ------------------------------------------------ row-parallel passes */

typedef struct {
    flow_state *s;
    int stage; /* 0 gradients, 1 hbox tensor, 2 vbox tensor, 3 warp, 4 hbox b, 5 vbox b, 6 solve */
    int failed; /* set by a band that could not allocate */
} flow_job;

static void grad_rows(flow_state *s, int y0, int y1)
{
    int w = s->w, h = s->h;
    for (int y = y0; y < y1; y++) {
        const float *a = s->i0 + (size_t)km_clampi(y - 1, 0, h - 1) * w;
        const float *b = s->i0 + (size_t)y * w;
        const float *c = s->i0 + (size_t)km_clampi(y + 1, 0, h - 1) * w;
        float *gx = s->ix + (size_t)y * w, *gy = s->iy + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            int xl = x ? x - 1 : 0, xr = x + 1 < w ? x + 1 : w - 1;
            gx[x] = (3 * (a[xr] - a[xl]) + 10 * (b[xr] - b[xl]) + 3 * (c[xr] - c[xl])) * (1 / 32.f);
            gy[x] = (3 * (c[xl] - a[xl]) + 10 * (c[x] - a[x]) + 3 * (c[xr] - a[xr])) * (1 / 32.f);
        }
    }
}

/* Horizontal box sum of one row (zeros outside) through a prefix sum in
 * double: O(1) per pixel whatever the radius. pad holds w + 1 doubles. */
static void hbox_row(const float *in, float *restrict out, int w, int r, double *restrict pre)
{
    pre[0] = 0;
    for (int x = 0; x < w; x++)
        pre[x + 1] = pre[x] + in[x];
    for (int x = 0; x < w; x++) {
        int lo = x - r < 0 ? 0 : x - r, hi = x + r + 1 > w ? w : x + r + 1;
        out[x] = (float)(pre[hi] - pre[lo]);
    }
}

/* Vertical box sums of rows [y0, y1): the first row summed directly, the
 * rest by adding the row entering the window and removing the one leaving
 * (vectorised across x). */
static void vbox_band(const float *in, float *out, int w, int h, int r, int y0, int y1)
{
    float *restrict o = out + (size_t)y0 * w;
    memset(o, 0, (size_t)w * sizeof *o);
    for (int yy = y0 - r; yy <= y0 + r; yy++) {
        if (yy < 0 || yy >= h)
            continue;
        const float *restrict p = in + (size_t)yy * w;
        for (int x = 0; x < w; x++)
            o[x] += p[x];
    }
    for (int y = y0 + 1; y < y1; y++) {
        const float *restrict prev = out + (size_t)(y - 1) * w;
        float *restrict cur = out + (size_t)y * w;
        int add = y + r, sub = y - r - 1;
        const float *restrict pa = add < h ? in + (size_t)add * w : NULL;
        const float *restrict ps = sub >= 0 ? in + (size_t)sub * w : NULL;
        if (pa && ps)
            for (int x = 0; x < w; x++)
                cur[x] = prev[x] + pa[x] - ps[x];
        else if (pa)
            for (int x = 0; x < w; x++)
                cur[x] = prev[x] + pa[x];
        else if (ps)
            for (int x = 0; x < w; x++)
                cur[x] = prev[x] - ps[x];
        else
            memcpy(cur, prev, (size_t)w * sizeof *cur);
    }
}

/* Bilinear sample of `img` at (x + u, y + v), clamped to the image; written
 * without branches so the pixel loop vectorises with gathers. */
static void warp_row(const float *restrict img, int w, int h, int y, const float *restrict u,
                     const float *restrict v, float *restrict out)
{
    float wm = (float)(w - 1), hm = (float)(h - 1);
    for (int x = 0; x < w; x++) {
        float sx = fminf(fmaxf((float)x + u[x], 0.f), wm);
        float sy = fminf(fmaxf((float)y + v[x], 0.f), hm);
        int x0 = (int)sx, y0 = (int)sy;
        int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
        float fx = sx - (float)x0, fy = sy - (float)y0;
        float a = img[y0 * w + x0], b = img[y0 * w + x1];
        float c = img[y1 * w + x0], d = img[y1 * w + x1];
        float top = a + fx * (b - a), bot = c + fx * (d - c);
        out[x] = top + fy * (bot - top);
    }
}

static void flow_rows(void *arg, int y0, int y1)
{
    flow_job *j = arg;
    flow_state *s = j->s;
    int w = s->w, h = s->h, r = s->r;
    double *pad = NULL;
    float *prod = NULL;
    if (j->stage == 1 || j->stage == 3 || j->stage == 4) {
        pad = vis_alloc((size_t)w + 1, sizeof(double));
        prod = vis_alloc((size_t)w * 3, sizeof(float));
        if (!pad || !prod) {
            vis_mark_failed(&j->failed);
            goto out;
        }
    }
    if (j->stage == 2) {
        vbox_band(s->px, s->axx, w, h, r, y0, y1);
        vbox_band(s->py, s->axy, w, h, r, y0, y1);
        vbox_band(s->tmp, s->ayy, w, h, r, y0, y1);
        goto out;
    }
    if (j->stage == 5) {
        vbox_band(s->px, s->bx, w, h, r, y0, y1);
        vbox_band(s->py, s->by, w, h, r, y0, y1);
        goto out;
    }
    for (int y = y0; y < y1; y++) {
        size_t o = (size_t)y * w;
        switch (j->stage) {
        case 0:
            grad_rows(s, y, y + 1);
            break;
        case 1: {
            const float *gx = s->ix + o, *gy = s->iy + o;
            for (int x = 0; x < w; x++) {
                prod[x] = gx[x] * gx[x];
                prod[w + x] = gx[x] * gy[x];
                prod[2 * w + x] = gy[x] * gy[x];
            }
            /* horizontal sums into px (xx), py (xy), tmp (yy) */
            hbox_row(prod, s->px + o, w, r, pad);
            hbox_row(prod + w, s->py + o, w, r, pad);
            hbox_row(prod + 2 * w, s->tmp + o, w, r, pad);
            break;
        }
        case 3: {
            /* residual linearised to zero flow: r = It - grad I . u, so the
             * window sums below give each pixel's own LK solution with its
             * neighbours' warps corrected to its flow (stable, unlike
             * averaging increments) */
            const float *a = s->i0 + o, *gx = s->ix + o, *gy = s->iy + o;
            const float *u = s->u + o, *v = s->v + o;
            warp_row(s->i1, w, h, y, u, v, prod);
            for (int x = 0; x < w; x++) {
                float it = prod[x] - a[x];
                float res = it - gx[x] * u[x] - gy[x] * v[x];
                s->bx[o + x] = gx[x] * res;
                s->by[o + x] = gy[x] * res;
            }
            break;
        }
        case 4:
            hbox_row(s->bx + o, s->px + o, w, r, pad);
            hbox_row(s->by + o, s->py + o, w, r, pad);
            break;
        case 6: {
            for (int x = 0; x < w; x++) {
                const float lam = 1.0f; /* pulls textureless pixels to their flow */
                float u0 = s->u[o + x], v0 = s->v[o + x];
                float axx = s->axx[o + x] + lam, axy = s->axy[o + x], ayy = s->ayy[o + x] + lam;
                float det = axx * ayy - axy * axy;
                if (!(det > 1e-6f))
                    continue;
                float bx = lam * u0 - s->bx[o + x], by = lam * v0 - s->by[o + x];
                float du = (ayy * bx - axy * by) / det - u0;
                float dv = (axx * by - axy * bx) / det - v0;
                du = du > 2 ? 2 : du < -2 ? -2 : du;
                dv = dv > 2 ? 2 : dv < -2 ? -2 : dv;
                s->u[o + x] = u0 + du;
                s->v[o + x] = v0 + dv;
            }
            break;
        }
        }
    }
out:
    free(pad);
    free(prod);
}

/* Returns nonzero when a band ran out of memory. */
static int run_stage(flow_state *s, int stage, km_pool *pool)
{
    flow_job j = {s, stage, 0};
    vis_parallel_rows(pool, s->h, flow_rows, &j);
    return j.failed;
}

/* ------------------------------------------------------------- driver */

static void upsample_flow(const float *cu, const float *cv, int cw, int ch, float *u, float *v, int w, int h)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float sx = (x + 0.5f) * cw / (float)w - 0.5f, sy = (y + 0.5f) * ch / (float)h - 0.5f;
            u[(size_t)y * w + x] = 2.f * sample(cu, cw, ch, sx, sy);
            v[(size_t)y * w + x] = 2.f * sample(cv, cw, ch, sx, sy);
        }
}

int km_flow_dense(const km_image *prev, const km_image *next, const km_flow_opts *opts,
                  km_image *flow, km_pool *pool)
{
    if (!km_is_u8(prev) || !km_is_u8(next) || prev->width != next->width || prev->height != next->height)
        return km_seterr(KM_EINVAL, "flow: frames must be 8-bit images of the same size");
    if (!flow || flow->fmt != KM_PIX_FLOAT || flow->channels != 2 || flow->width != prev->width ||
        flow->height != prev->height)
        return km_seterr(KM_EINVAL, "flow: output must be a 2-plane float image %dx%d", prev->width,
                         prev->height);
    km_flow_opts o = KM_FLOW_OPTS_DEFAULT;
    if (opts)
        o = *opts;
    if (o.levels < 1 || o.levels > FLOW_MAX_LEVELS || o.win_r < 1 || o.win_r > 32 || o.iterations < 1 ||
        o.iterations > 50)
        return km_seterr(KM_EINVAL, "flow: levels 1..%d, win_r 1..32, iterations 1..50", FLOW_MAX_LEVELS);
    int W = prev->width, H = prev->height, rc = KM_ENOMEM;
    flow_level lv[FLOW_MAX_LEVELS] = {{0}};
    int nl = 0;
    float *planes[12] = {0};
    float *cu = NULL, *cv = NULL;
    km_image *g0 = vis_to_gray(prev), *g1 = vis_to_gray(next);
    if (!g0 || !g1)
        goto out;
    for (int l = 0; l < o.levels; l++) {
        int w = l ? (lv[l - 1].w + 1) / 2 : W, h = l ? (lv[l - 1].h + 1) / 2 : H;
        if (l && (w < 2 * o.win_r + 1 || h < 2 * o.win_r + 1))
            break;
        lv[l].w = w;
        lv[l].h = h;
        lv[l].i0 = plane_alloc(w, h);
        lv[l].i1 = plane_alloc(w, h);
        nl = l + 1;
        if (!lv[l].i0 || !lv[l].i1)
            goto out;
        if (l == 0) {
            to_float_gray(g0, lv[0].i0);
            to_float_gray(g1, lv[0].i1);
        } else {
            pyr_down(lv[l - 1].i0, lv[l - 1].w, lv[l - 1].h, lv[l].i0, w, h);
            pyr_down(lv[l - 1].i1, lv[l - 1].w, lv[l - 1].h, lv[l].i1, w, h);
        }
    }
    for (int i = 0; i < 12; i++)
        if (!(planes[i] = plane_alloc(W, H)))
            goto out;
    cu = plane_alloc(W, H);
    cv = plane_alloc(W, H);
    if (!cu || !cv)
        goto out;
    for (int l = nl - 1; l >= 0; l--) {
        int w = lv[l].w, h = lv[l].h;
        flow_state s = {w, h, o.win_r, lv[l].i0, lv[l].i1, planes[0], planes[1], planes[2], planes[3],
                        planes[4], planes[5], planes[6], planes[7], planes[8], planes[9], planes[10], planes[11]};
        if (l == nl - 1) {
            memset(s.u, 0, (size_t)w * h * sizeof(float));
            memset(s.v, 0, (size_t)w * h * sizeof(float));
        } else {
            upsample_flow(cu, cv, lv[l + 1].w, lv[l + 1].h, s.u, s.v, w, h);
        }
        int failed = run_stage(&s, 0, pool) | run_stage(&s, 1, pool) | run_stage(&s, 2, pool);
        for (int it = 0; it < o.iterations && !failed; it++)
            failed = run_stage(&s, 3, pool) | run_stage(&s, 4, pool) | run_stage(&s, 5, pool) |
                     run_stage(&s, 6, pool);
        if (failed)
            goto out;
        memcpy(cu, s.u, (size_t)w * h * sizeof(float));
        memcpy(cv, s.v, (size_t)w * h * sizeof(float));
    }
    for (int c = 0; c < 2; c++) {
        float *dst = km_image_plane(flow, c);
        const float *src = c ? cv : cu;
        for (int y = 0; y < H; y++)
            memcpy((uint8_t *)dst + (size_t)y * flow->stride, src + (size_t)y * W, (size_t)W * sizeof(float));
    }
    rc = 0;
out:
    if (rc)
        km_seterr(rc, "flow: out of memory for %dx%d", W, H);
    for (int l = 0; l < FLOW_MAX_LEVELS; l++) {
        free(lv[l].i0);
        free(lv[l].i1);
    }
    for (int i = 0; i < 12; i++)
        free(planes[i]);
    free(cu);
    free(cv);
    km_image_free(g0);
    km_image_free(g1);
    return rc;
}

/* ---------------------------------------------------- visualisation */

static void hsv_to_rgb(float h, float s, float v, uint8_t *rgb)
{
    float c = v * s, hp = h / 60.f, xx = c * (1 - fabsf(fmodf(hp, 2.f) - 1));
    float r = 0, g = 0, b = 0;
    if (hp < 1)
        r = c, g = xx;
    else if (hp < 2)
        r = xx, g = c;
    else if (hp < 3)
        g = c, b = xx;
    else if (hp < 4)
        g = xx, b = c;
    else if (hp < 5)
        r = xx, b = c;
    else
        r = c, b = xx;
    float m = v - c;
    rgb[0] = (uint8_t)lrintf((r + m) * 255);
    rgb[1] = (uint8_t)lrintf((g + m) * 255);
    rgb[2] = (uint8_t)lrintf((b + m) * 255);
}

int km_flow_to_rgb(const km_image *flow, km_image *dst, float max_mag)
{
    if (!flow || flow->fmt != KM_PIX_FLOAT || flow->channels != 2 || !dst || dst->fmt != KM_PIX_RGB24 ||
        dst->width != flow->width || dst->height != flow->height)
        return km_seterr(KM_EINVAL, "flow_to_rgb: need a 2-plane float flow and an RGB24 dst of its size");
    const float *fu = km_image_plane(flow, 0), *fv = km_image_plane(flow, 1);
    size_t fs = flow->stride / sizeof(float);
    if (!(max_mag > 0)) {
        max_mag = 0;
        for (int y = 0; y < flow->height; y++)
            for (int x = 0; x < flow->width; x++) {
                float m = hypotf(fu[y * fs + x], fv[y * fs + x]);
                if (m > max_mag)
                    max_mag = m;
            }
        if (!(max_mag > 0))
            max_mag = 1;
    }
    for (int y = 0; y < flow->height; y++) {
        uint8_t *d = km_image_row(dst, y);
        for (int x = 0; x < flow->width; x++) {
            float u = fu[y * fs + x], v = fv[y * fs + x];
            float ang = atan2f(v, u) * (180.f / (float)M_PI);
            if (ang < 0)
                ang += 360.f;
            float mag = hypotf(u, v) / max_mag;
            hsv_to_rgb(ang >= 360.f ? 0 : ang, 1.f, mag > 1 ? 1 : mag, d + 3 * x);
        }
    }
    return 0;
}
