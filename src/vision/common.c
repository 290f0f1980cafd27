/*
 * common.c - what every vision kernel needs: argument checks, row-parallel
 * dispatch over the pool, padded rows for border handling, 16-bit images
 * and convertScaleAbs.
 */
#include <math.h>
#include <stdint.h>

#include "vision/vision_priv.h"

int vis_check_pair(const km_image *src, const km_image *dst, const char *fn)
{
    if (!km_is_u8(src) || !km_is_u8(dst))
        return km_seterr(KM_EINVAL, "%s: images must be RGB24 or GRAY8", fn);
    if (src->width != dst->width || src->height != dst->height || src->fmt != dst->fmt)
        return km_seterr(KM_EINVAL, "%s: dst must match src (%dx%d, %s)", fn, src->width,
                         src->height, src->fmt == KM_PIX_RGB24 ? "RGB24" : "GRAY8");
    return 0;
}

void vis_parallel_rows(km_pool *pool, int n, km_range_fn fn, void *arg)
{
    if (n <= 0)
        return;
    if (!pool || km_pool_size(pool) < 1) {
        fn(arg, 0, n);
        return;
    }
    /* the caller works too: size + 1 threads, a few bands each */
    int chunks = (km_pool_size(pool) + 1) * 4;
    if (chunks > n)
        chunks = n;
    km_pool_parallel_for(pool, n, chunks, fn, arg);
}

void vis_pad_row_u8(const uint8_t *row, int width, int cn, int pad, int replicate, uint8_t *out)
{
    memcpy(out + (size_t)pad * cn, row, (size_t)width * cn);
    for (int i = 1; i <= pad; i++) {
        int l = replicate ? 0 : km_reflect101(-i, width);
        int r = replicate ? width - 1 : km_reflect101(width - 1 + i, width);
        memcpy(out + (size_t)(pad - i) * cn, row + (size_t)l * cn, (size_t)cn);
        memcpy(out + (size_t)(pad + width - 1 + i) * cn, row + (size_t)r * cn, (size_t)cn);
    }
}

void *vis_alloc(size_t n, size_t size)
{
    if (size && n > (SIZE_MAX - 64) / size) {
        km_seterr(KM_ENOMEM, "buffer of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    size_t bytes = (n * size + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p)
        km_seterr(KM_ENOMEM, "out of memory for %zu bytes", bytes);
    return p;
}

km_image *vis_to_gray(const km_image *src)
{
    if (src->fmt == KM_PIX_GRAY8)
        return km_image_clone(src);
    return km_image_convert(src, KM_PIX_GRAY8, 1.0f, 0.0f);
}

km_image16 *km_image16_new(int width, int height, int channels)
{
    km_image16 *img = vis_image16_uninit(width, height, channels);
    if (img)
        memset(img->data, 0, img->stride * (size_t)height * sizeof(int16_t));
    return img;
}

km_image16 *vis_image16_uninit(int width, int height, int channels)
{
    if (width <= 0 || height <= 0 || width > KM_IMAGE_MAX_DIM || height > KM_IMAGE_MAX_DIM ||
        channels < 1 || channels > 4) {
        km_seterr(KM_ERANGE, "image16 %dx%dx%d outside 1..%d, 1..4 channels", width, height,
                  channels, KM_IMAGE_MAX_DIM);
        return NULL;
    }
    km_image16 *img = calloc(1, sizeof *img);
    if (!img) {
        km_seterr(KM_ENOMEM, "out of memory for image16 header");
        return NULL;
    }
    img->width = width;
    img->height = height;
    img->channels = channels;
    img->stride = ((size_t)width * channels + 31) & ~(size_t)31; /* 64 bytes */
    img->data = vis_alloc(img->stride * (size_t)height, sizeof(int16_t));
    if (!img->data) {
        free(img);
        return NULL;
    }
    return img;
}

void km_image16_free(km_image16 *img)
{
    if (!img)
        return;
    free(img->data);
    free(img);
}

typedef struct {
    const km_image16 *src;
    km_image *dst;
    float scale;
} csa_job;

static void csa_rows(void *arg, int y0, int y1)
{
    const csa_job *j = arg;
    int n = j->src->width * j->src->channels;
    float s = j->scale;
    for (int y = y0; y < y1; y++) {
        const int16_t *restrict a = km_image16_row(j->src, y);
        uint8_t *restrict d = km_image_row(j->dst, y);
        if (s == 1.0f) {
            for (int x = 0; x < n; x++) {
                int v = a[x] < 0 ? -a[x] : a[x];
                d[x] = (uint8_t)(v > 255 ? 255 : v);
            }
        } else {
            for (int x = 0; x < n; x++) {
                float v = fabsf(a[x] * s);
                d[x] = (uint8_t)(v >= 255.0f ? 255 : (int)rintf(v));
            }
        }
    }
}

int km_convert_scale_abs(const km_image16 *src, km_image *dst, double scale, km_pool *pool)
{
    if (!src || !dst || !km_is_u8(dst) || dst->width != src->width ||
        dst->height != src->height || dst->channels != src->channels)
        return km_seterr(KM_EINVAL, "convert_scale_abs: dst must be 8-bit, %dx%d, %d channels",
                         src ? src->width : 0, src ? src->height : 0, src ? src->channels : 0);
    csa_job j = {src, dst, (float)scale};
    vis_parallel_rows(pool, src->height, csa_rows, &j);
    return 0;
}
