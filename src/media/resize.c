/*
 * resize.c - km_image_resize with libswscale.
 *
 * swscale scales packed RGB through an internal YUV conversion, which would
 * change colours even for nearest-neighbour or same-size "resizes". Scaling
 * each channel as its own GRAY8 plane keeps the operation a pure per-channel
 * filter: nearest copies pixels exactly, and a same-size resize is a copy.
 * For RGB24 the channels are split into three planes, scaled with one
 * SwsContext and interleaved again.
 */
#include <string.h>

#include <libswscale/swscale.h>

#include "kinema/media.h"
#include "media/media_priv.h"

static int sws_flags_for(km_interp interp)
{
    switch (interp) {
    case KM_INTERP_NEAREST: return SWS_POINT;
    case KM_INTERP_AREA: return SWS_AREA;
    case KM_INTERP_BICUBIC: return SWS_BICUBIC;
    case KM_INTERP_BILINEAR:
    default: return SWS_BILINEAR;
    }
}

/* Scale one 8-bit plane (src_stride/dst_stride in bytes). */
static void scale_plane(struct SwsContext *sws, const uint8_t *src, int src_stride, int src_h,
                        uint8_t *dst, int dst_stride)
{
    const uint8_t *const sp[4] = { src, NULL, NULL, NULL };
    const int ss[4] = { src_stride, 0, 0, 0 };
    uint8_t *const dp[4] = { dst, NULL, NULL, NULL };
    const int ds[4] = { dst_stride, 0, 0, 0 };
    sws_scale(sws, sp, ss, 0, src_h, dp, ds);
}

static void split_channel(const km_image *img, int c, km_image *plane)
{
    for (int y = 0; y < img->height; y++) {
        const uint8_t *s = km_image_row(img, y) + c;
        uint8_t *d = km_image_row(plane, y);
        for (int x = 0; x < img->width; x++)
            d[x] = s[(size_t)x * 3];
    }
}

static void merge_channel(const km_image *plane, int c, km_image *img)
{
    for (int y = 0; y < img->height; y++) {
        const uint8_t *s = km_image_row(plane, y);
        uint8_t *d = km_image_row(img, y) + c;
        for (int x = 0; x < img->width; x++)
            d[(size_t)x * 3] = s[x];
    }
}

/* RGB24: three planes through one context; returns 0 or a KM_E* code. */
static int resize_rgb(struct SwsContext *sws, const km_image *src, km_image *dst)
{
    km_image *sp = km__image_new_uninit(src->width, src->height, KM_PIX_GRAY8);
    km_image *dp = km__image_new_uninit(dst->width, dst->height, KM_PIX_GRAY8);
    if (!sp || !dp) {
        km_image_free(sp);
        km_image_free(dp);
        return KM_ENOMEM;
    }
    for (int c = 0; c < 3; c++) {
        split_channel(src, c, sp);
        scale_plane(sws, sp->data, (int)sp->stride, src->height, dp->data, (int)dp->stride);
        merge_channel(dp, c, dst);
    }
    km_image_free(sp);
    km_image_free(dp);
    return KM_OK;
}

km_image *km_image_resize(const km_image *src, int width, int height, km_interp interp)
{
    if (!src || (src->fmt != KM_PIX_RGB24 && src->fmt != KM_PIX_GRAY8)) {
        km_seterr(KM_EINVAL, "km_image_resize: needs an RGB24 or GRAY8 image");
        return NULL;
    }
    if (width == src->width && height == src->height)
        return km_image_clone(src);
    km_image *dst = km__image_new_uninit(width, height, src->fmt);
    if (!dst)
        return NULL;
    struct SwsContext *sws = sws_getContext(src->width, src->height, AV_PIX_FMT_GRAY8, width, height,
                                            AV_PIX_FMT_GRAY8, sws_flags_for(interp) | SWS_ACCURATE_RND,
                                            NULL, NULL, NULL);
    if (!sws) {
        km_image_free(dst);
        km_seterr(KM_EINTERNAL, "km_image_resize: swscale cannot scale %dx%d to %dx%d",
                  src->width, src->height, width, height);
        return NULL;
    }
    int rc = KM_OK;
    if (src->fmt == KM_PIX_GRAY8)
        scale_plane(sws, src->data, (int)src->stride, src->height, dst->data, (int)dst->stride);
    else
        rc = resize_rgb(sws, src, dst);
    sws_freeContext(sws);
    km__image_clear_padding(dst);
    if (rc != KM_OK) {
        km_image_free(dst);
        km_seterr(rc, "km_image_resize: out of memory for %dx%d", width, height);
        return NULL;
    }
    return dst;
}
