/*
 * deriv.c - Sobel, Scharr and Laplacian derivatives into 16-bit images.
 *
 * All three are sums of at most two separable integer kernels (OpenCV's
 * getDerivKernels): a vertical pass over ky taps of the 8-bit rows, then a
 * horizontal pass over kx taps of that 16-bit row, padded by reflect-101.
 * For every supported kernel (|k| sums <= 16 per axis) the exact result
 * fits in int16, so the arithmetic is 16-bit and vectorises 32 lanes wide.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#pragma GCC target("prefer-vector-width=512")
#endif
#include "vision/vision_priv.h"

#define DERIV_MAXK 5

typedef struct {
    int kxn, kyn;
    int16_t kx[DERIV_MAXK], ky[DERIV_MAXK];
} sep_term;

typedef struct {
    const km_image *src;
    km_image16 *dst;
    int nterms;
    sep_term t[2];
    int replicate;
    int failed; /* set by a band that could not allocate */
} deriv_job;

static void kernel_of(int order, int ksize, int16_t *k, int *n)
{
    static const int16_t s3[3][3] = {{1, 2, 1}, {-1, 0, 1}, {1, -2, 1}};
    static const int16_t s5[3][5] = {{1, 4, 6, 4, 1}, {-1, -2, 0, 2, 1}, {1, 0, -2, 0, 1}};
    if (ksize == 1) {
        if (order == 0) {
            k[0] = 1;
            *n = 1;
        } else {
            memcpy(k, s3[order], 3 * sizeof *k);
            *n = 3;
        }
    } else if (ksize == 3) {
        memcpy(k, s3[order], 3 * sizeof *k);
        *n = 3;
    } else {
        memcpy(k, s5[order], 5 * sizeof *k);
        *n = 5;
    }
}

/* out[0..n) = sum_i ky[i] * rows[i][x] (16-bit); kn constant after
 * inlining so the taps unroll into one pass. */
static inline __attribute__((always_inline)) void vpass_k(const int16_t *ky, int kn,
                                                          const uint8_t *const *rows,
                                                          int16_t *restrict out, int n)
{
    int16_t k[DERIV_MAXK];
    const uint8_t *r[DERIV_MAXK];
    for (int i = 0; i < kn; i++) {
        k[i] = ky[i];
        r[i] = rows[i];
    }
    for (int x = 0; x < n; x++) {
        int16_t acc = 0;
        for (int i = 0; i < kn; i++)
            acc = (int16_t)(acc + k[i] * r[i][x]);
        out[x] = acc;
    }
}

static void vpass(const sep_term *t, const uint8_t *const *rows, int16_t *restrict out, int n)
{
    if (t->kyn == 1)
        vpass_k(t->ky, 1, rows, out, n);
    else if (t->kyn == 3)
        vpass_k(t->ky, 3, rows, out, n);
    else
        vpass_k(t->ky, 5, rows, out, n);
}

/* Fill `pad` pixels each side of a 16-bit row (cn values per pixel). */
static void pad_row16(int16_t *row, int width, int cn, int pad, int replicate)
{
    for (int i = 1; i <= pad; i++) {
        int l = replicate ? 0 : km_reflect101(-i, width);
        int r = replicate ? width - 1 : km_reflect101(width - 1 + i, width);
        for (int c = 0; c < cn; c++) {
            row[-(ptrdiff_t)i * cn + c] = row[(ptrdiff_t)l * cn + c];
            row[(ptrdiff_t)(width - 1 + i) * cn + c] = row[(ptrdiff_t)r * cn + c];
        }
    }
}

/* d[x] (+)= sum_j kx[j] * tmp[x + (j - r) cn]; kn constant after inlining. */
static inline __attribute__((always_inline)) void hpass_k(const int16_t *kx, int kn, const int16_t *tmp,
                                                          int cn, int n, int16_t *restrict d, int add)
{
    int r = kn / 2;
    int16_t k[DERIV_MAXK];
    for (int j = 0; j < kn; j++)
        k[j] = kx[j];
    const int16_t *restrict s = tmp - (ptrdiff_t)r * cn;
    if (add) {
        for (int x = 0; x < n; x++) {
            int16_t acc = d[x];
            for (int j = 0; j < kn; j++)
                acc = (int16_t)(acc + k[j] * s[x + j * cn]);
            d[x] = acc;
        }
    } else {
        for (int x = 0; x < n; x++) {
            int16_t acc = 0;
            for (int j = 0; j < kn; j++)
                acc = (int16_t)(acc + k[j] * s[x + j * cn]);
            d[x] = acc;
        }
    }
}

static void hpass(const sep_term *t, const int16_t *tmp, int cn, int n, int16_t *restrict d, int add)
{
    if (t->kxn == 1)
        hpass_k(t->kx, 1, tmp, cn, n, d, add);
    else if (t->kxn == 3)
        hpass_k(t->kx, 3, tmp, cn, n, d, add);
    else
        hpass_k(t->kx, 5, tmp, cn, n, d, add);
}

static void deriv_rows(void *arg, int y0, int y1)
{
    const deriv_job *j = arg;
    int w = j->src->width, h = j->src->height, cn = j->src->channels, n = w * cn;
    int16_t *buf = vis_alloc((size_t)(w + 2 * DERIV_MAXK) * cn, sizeof(int16_t));
    if (!buf) {
        vis_mark_failed(&j->failed);
        return;
    }
    int16_t *tmp = buf + DERIV_MAXK * cn;
    for (int y = y0; y < y1; y++) {
        int16_t *d = km_image16_row(j->dst, y);
        for (int ti = 0; ti < j->nterms; ti++) {
            const sep_term *t = &j->t[ti];
            const uint8_t *rows[DERIV_MAXK] = {0};
            int r = t->kyn / 2;
            for (int i = 0; i < t->kyn; i++) {
                int yy = y + i - r;
                yy = j->replicate ? km_clampi(yy, 0, h - 1) : km_reflect101(yy, h);
                rows[i] = km_image_row(j->src, yy);
            }
            vpass(t, rows, tmp, n);
            pad_row16(tmp, w, cn, t->kxn / 2, j->replicate);
            hpass(t, tmp, cn, n, d, ti > 0);
        }
    }
    free(buf);
}

static int check16(const km_image *src, const km_image16 *dst, const char *fn)
{
    if (!km_is_u8(src) || !dst)
        return km_seterr(KM_EINVAL, "%s: src must be RGB24 or GRAY8", fn);
    if (dst->width != src->width || dst->height != src->height || dst->channels != src->channels)
        return km_seterr(KM_EINVAL, "%s: dst must be %dx%d with %d channels", fn, src->width,
                         src->height, src->channels);
    return 0;
}

static int run_deriv(deriv_job *j, km_pool *pool)
{
    j->failed = 0;
    vis_parallel_rows(pool, j->src->height, deriv_rows, j);
    return j->failed ? km_seterr(KM_ENOMEM, "derivative: out of memory for row buffers") : 0;
}

static int sobel_border(const km_image *src, km_image16 *dst, int dx, int dy, int ksize,
                     int replicate, km_pool *pool)
{
    int rc = check16(src, dst, "sobel");
    if (rc)
        return rc;
    if (ksize != 1 && ksize != 3 && ksize != 5)
        return km_seterr(KM_EINVAL, "sobel: ksize %d must be 1, 3 or 5", ksize);
    if (dx < 0 || dy < 0 || dx > 2 || dy > 2 || dx + dy < 1 || (ksize == 1 && dx + dy > 2))
        return km_seterr(KM_EINVAL, "sobel: orders dx=%d dy=%d must be 0..2 with dx+dy >= 1", dx, dy);
    deriv_job j = {src, dst, 1, {{0}}, replicate, 0};
    kernel_of(dx, ksize == 1 && dx == 0 && dy > 0 ? 1 : ksize, j.t[0].kx, &j.t[0].kxn);
    kernel_of(dy, ksize == 1 && dy == 0 && dx > 0 ? 1 : ksize, j.t[0].ky, &j.t[0].kyn);
    return run_deriv(&j, pool);
}

int km_sobel(const km_image *src, km_image16 *dst, int dx, int dy, int ksize, km_pool *pool)
{
    return sobel_border(src, dst, dx, dy, ksize, 0, pool);
}

int km_scharr(const km_image *src, km_image16 *dst, int dx, int dy, km_pool *pool)
{
    int rc = check16(src, dst, "scharr");
    if (rc)
        return rc;
    if (!((dx == 1 && dy == 0) || (dx == 0 && dy == 1)))
        return km_seterr(KM_EINVAL, "scharr: (dx, dy) must be (1, 0) or (0, 1), got (%d, %d)", dx, dy);
    static const int16_t smooth[3] = {3, 10, 3}, diff[3] = {-1, 0, 1};
    deriv_job j = {src, dst, 1, {{0}}, 0, 0};
    j.t[0].kxn = j.t[0].kyn = 3;
    memcpy(j.t[0].kx, dx ? diff : smooth, sizeof smooth);
    memcpy(j.t[0].ky, dy ? diff : smooth, sizeof smooth);
    return run_deriv(&j, pool);
}

int km_laplacian(const km_image *src, km_image16 *dst, int ksize, km_pool *pool)
{
    int rc = check16(src, dst, "laplacian");
    if (rc)
        return rc;
    if (ksize != 1 && ksize != 3 && ksize != 5)
        return km_seterr(KM_EINVAL, "laplacian: ksize %d must be 1, 3 or 5", ksize);
    deriv_job j = {src, dst, 2, {{0}}, 0, 0};
    kernel_of(2, ksize, j.t[0].kx, &j.t[0].kxn);
    kernel_of(0, ksize, j.t[0].ky, &j.t[0].kyn);
    kernel_of(0, ksize, j.t[1].kx, &j.t[1].kxn);
    kernel_of(2, ksize, j.t[1].ky, &j.t[1].kyn);
    return run_deriv(&j, pool);
}

void vis_sobel_xy_row(const km_image *src, int y, int aperture, int replicate, int16_t *dx, int16_t *dy,
                      int16_t *tmpbuf)
{
    int w = src->width, h = src->height, cn = src->channels, n = w * cn;
    int16_t *tmp = tmpbuf + DERIV_MAXK * cn;
    sep_term t[2];
    kernel_of(1, aperture, t[0].kx, &t[0].kxn);
    kernel_of(0, aperture, t[0].ky, &t[0].kyn);
    kernel_of(0, aperture, t[1].kx, &t[1].kxn);
    kernel_of(1, aperture, t[1].ky, &t[1].kyn);
    for (int k = 0; k < 2; k++) {
        const uint8_t *rows[DERIV_MAXK] = {0};
        int r = t[k].kyn / 2;
        for (int i = 0; i < t[k].kyn; i++) {
            int yy = y + i - r;
            yy = replicate ? km_clampi(yy, 0, h - 1) : km_reflect101(yy, h);
            rows[i] = km_image_row(src, yy);
        }
        vpass(&t[k], rows, tmp, n);
        pad_row16(tmp, w, cn, t[k].kxn / 2, replicate);
        hpass(&t[k], tmp, cn, n, k ? dy : dx, 0);
    }
}
