/*
 * image.c - km_image allocation, cloning and format conversion.
 *
 * Rows are 64-byte aligned so vector loops can use aligned loads and so two
 * threads working on adjacent rows never share a cache line. Dimensions are
 * bounded by KM_IMAGE_MAX_DIM, which keeps every size product far below
 * SIZE_MAX. A few hundred bytes of slack follow the last row because
 * swscale's SIMD converters store whole vectors past a row's end.
 */
#include <stdlib.h>
#include <string.h>

#include "kinema/media.h"
#include "media/media_priv.h"

#define ROW_ALIGN 64
#define TAIL_SLACK 256

static size_t align_up(size_t n)
{
    return (n + ROW_ALIGN - 1) & ~(size_t)(ROW_ALIGN - 1);
}

static km_image *image_alloc(int width, int height, km_pixfmt fmt, int channels, int zero)
{
    if (width <= 0 || height <= 0 || width > KM_IMAGE_MAX_DIM || height > KM_IMAGE_MAX_DIM) {
        km_seterr(KM_ERANGE, "image size %dx%d outside 1..%d", width, height, KM_IMAGE_MAX_DIM);
        return NULL;
    }
    size_t bpp;
    switch (fmt) {
    case KM_PIX_RGB24: channels = 3; bpp = 3; break;
    case KM_PIX_GRAY8: channels = 1; bpp = 1; break;
    case KM_PIX_FLOAT:
        if (channels < 1 || channels > 4) {
            km_seterr(KM_EINVAL, "float image needs 1..4 channels, got %d", channels);
            return NULL;
        }
        bpp = sizeof(float);
        break;
    default:
        km_seterr(KM_EINVAL, "unknown pixel format %d", (int)fmt);
        return NULL;
    }
    km_image *img = calloc(1, sizeof *img);
    if (!img) {
        km_seterr(KM_ENOMEM, "out of memory for image header");
        return NULL;
    }
    img->width = width;
    img->height = height;
    img->channels = channels;
    img->fmt = fmt;
    img->stride = align_up((size_t)width * bpp);
    size_t planes = fmt == KM_PIX_FLOAT ? (size_t)channels : 1;
    img->plane_stride = fmt == KM_PIX_FLOAT ? align_up(img->stride * (size_t)height) : 0;
    size_t bytes = fmt == KM_PIX_FLOAT ? img->plane_stride * planes : img->stride * (size_t)height;
    /* Slack after the last row: SIMD converters (swscale) store whole
     * vectors and may write a little past the end of a row. */
    size_t alloc = align_up(bytes) + TAIL_SLACK;
    img->data = aligned_alloc(ROW_ALIGN, alloc);
    if (!img->data) {
        free(img);
        km_seterr(KM_ENOMEM, "out of memory for %dx%d image", width, height);
        return NULL;
    }
    if (zero)
        memset(img->data, 0, alloc);
    return img;
}

km_image *km_image_new(int width, int height, km_pixfmt fmt, int channels)
{
    return image_alloc(width, height, fmt, channels, 1);
}

km_image *km__image_new_uninit(int width, int height, km_pixfmt fmt)
{
    return image_alloc(width, height, fmt, 1, 0);
}

void km__image_clear_padding(km_image *img)
{
    size_t used = (size_t)img->width * (img->fmt == KM_PIX_RGB24 ? 3 : 1);
    if (img->fmt == KM_PIX_FLOAT || used == img->stride)
        return;
    for (int y = 0; y < img->height; y++)
        memset(km_image_row(img, y) + used, 0, img->stride - used);
}

void km_image_free(km_image *img)
{
    if (!img)
        return;
    free(img->data);
    free(img);
}

static size_t image_bytes(const km_image *img)
{
    if (img->fmt == KM_PIX_FLOAT)
        return img->plane_stride * (size_t)img->channels;
    return img->stride * (size_t)img->height;
}

km_image *km_image_clone(const km_image *img)
{
    km_image *copy = km_image_new(img->width, img->height, img->fmt, img->channels);
    if (copy)
        memcpy(copy->data, img->data, image_bytes(img));
    return copy;
}

static uint8_t saturate_u8(float v)
{
    if (!(v > 0.0f)) /* also catches NaN */
        return 0;
    if (v >= 255.0f)
        return 255;
    return (uint8_t)(v + 0.5f);
}

/* BT.601 luma in fixed point with OpenCV's coefficients and rounding. */
static void rgb_to_gray(const km_image *src, km_image *dst)
{
    for (int y = 0; y < src->height; y++) {
        const uint8_t *s = km_image_row(src, y);
        uint8_t *d = km_image_row(dst, y);
        for (int x = 0; x < src->width; x++, s += 3)
            d[x] = (uint8_t)((s[0] * 4899 + s[1] * 9617 + s[2] * 1868 + (1 << 13)) >> 14);
    }
}

static void gray_to_rgb(const km_image *src, km_image *dst)
{
    for (int y = 0; y < src->height; y++) {
        const uint8_t *s = km_image_row(src, y);
        uint8_t *d = km_image_row(dst, y);
        for (int x = 0; x < src->width; x++, d += 3)
            d[0] = d[1] = d[2] = s[x];
    }
}

static void u8_to_float(const km_image *src, km_image *dst, float scale, float offset)
{
    int ch = src->channels;
    for (int c = 0; c < ch; c++) {
        float *plane = km_image_plane(dst, c);
        for (int y = 0; y < src->height; y++) {
            const uint8_t *s = km_image_row(src, y) + c;
            float *d = (float *)((uint8_t *)plane + (size_t)y * dst->stride);
            for (int x = 0; x < src->width; x++)
                d[x] = s[(size_t)x * ch] * scale + offset;
        }
    }
}

static void float_to_u8(const km_image *src, km_image *dst, float scale, float offset)
{
    int ch = dst->channels;
    float inv = scale != 0.0f ? 1.0f / scale : 1.0f;
    for (int c = 0; c < ch; c++) {
        /* Gray from a multi-plane float image takes plane 0; RGB from a
         * one-plane image repeats it. */
        const float *plane = km_image_plane(src, c < src->channels ? c : 0);
        for (int y = 0; y < src->height; y++) {
            const float *s = (const float *)((const uint8_t *)plane + (size_t)y * src->stride);
            uint8_t *d = km_image_row(dst, y) + c;
            for (int x = 0; x < src->width; x++)
                d[(size_t)x * ch] = saturate_u8((s[x] - offset) * inv);
        }
    }
}

km_image *km_image_convert(const km_image *src, km_pixfmt fmt, float scale, float offset)
{
    if (src->fmt == fmt && fmt != KM_PIX_FLOAT)
        return km_image_clone(src);
    km_image *dst = km_image_new(src->width, src->height, fmt, src->channels);
    if (!dst)
        return NULL;
    if (src->fmt == KM_PIX_RGB24 && fmt == KM_PIX_GRAY8)
        rgb_to_gray(src, dst);
    else if (src->fmt == KM_PIX_GRAY8 && fmt == KM_PIX_RGB24)
        gray_to_rgb(src, dst);
    else if (src->fmt != KM_PIX_FLOAT && fmt == KM_PIX_FLOAT)
        u8_to_float(src, dst, scale, offset);
    else if (src->fmt == KM_PIX_FLOAT && fmt != KM_PIX_FLOAT)
        float_to_u8(src, dst, scale, offset);
    else { /* float -> float: rescale a copy */
        for (int c = 0; c < src->channels; c++) {
            for (int y = 0; y < src->height; y++) {
                const float *s = (const float *)((const uint8_t *)km_image_plane(src, c) + (size_t)y * src->stride);
                float *d = (float *)((uint8_t *)km_image_plane(dst, c) + (size_t)y * dst->stride);
                for (int x = 0; x < src->width; x++)
                    d[x] = s[x] * scale + offset;
            }
        }
    }
    return dst;
}
