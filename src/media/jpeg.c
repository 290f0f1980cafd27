/*
 * jpeg.c - JPEG encode/decode with libjpeg-turbo's TurboJPEG 2.x API.
 *
 * Debian 12 ships libjpeg-turbo 2.1, so this uses tjCompress2 and
 * tjDecompress2 (not the 3.x tj3* API). The output buffer is allocated here
 * with malloc at tjBufSize's worst case (TJFLAG_NOREALLOC) so callers free
 * it with free(), never tjFree. Encoding uses 4:2:0 and the accurate integer
 * DCT, the same defaults as `cjpeg -quality Q`.
 */
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#include "kinema/media.h"
#include "media/media_priv.h"

int km_jpeg_encode(const km_image *img, int quality, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!img || (img->fmt != KM_PIX_RGB24 && img->fmt != KM_PIX_GRAY8))
        return km_seterr(KM_EINVAL, "JPEG encode: needs an RGB24 or GRAY8 image");
    if (quality < 1 || quality > 100)
        return km_seterr(KM_ERANGE, "JPEG encode: quality %d outside 1..100", quality);
    int gray = img->fmt == KM_PIX_GRAY8;
    int subsamp = gray ? TJSAMP_GRAY : TJSAMP_420;
    unsigned long cap = tjBufSize(img->width, img->height, subsamp);
    if (cap == (unsigned long)-1)
        return km_seterr(KM_ERANGE, "JPEG encode: image %dx%d too large", img->width, img->height);
    unsigned char *buf = malloc(cap);
    if (!buf)
        return km_seterr(KM_ENOMEM, "JPEG encode: out of memory (%lu bytes)", cap);
    tjhandle tj = tjInitCompress();
    if (!tj) {
        free(buf);
        return km_seterr(KM_ENOMEM, "JPEG encode: cannot create compressor");
    }
    unsigned long size = cap;
    int rc = tjCompress2(tj, img->data, img->width, (int)img->stride, img->height,
                         gray ? TJPF_GRAY : TJPF_RGB, &buf, &size, subsamp, quality, TJFLAG_NOREALLOC);
    if (rc != 0) {
        km_seterr(KM_EINTERNAL, "JPEG encode: %s", tjGetErrorStr2(tj));
        tjDestroy(tj);
        free(buf);
        return KM_EINTERNAL;
    }
    tjDestroy(tj);
    uint8_t *shrunk = realloc(buf, size); /* give back the worst-case slack */
    *out = shrunk ? shrunk : buf;
    *len = size;
    return KM_OK;
}

/* libjpeg reports a truncated file as a warning and pads the image with
 * grey; kinema treats that as malformed input, other warnings as benign. */
static int decode_failed(tjhandle tj)
{
    const char *msg = tjGetErrorStr2(tj);
    if (tjGetErrorCode(tj) == TJERR_WARNING && !strstr(msg, "Premature end"))
        return KM_OK;
    if (strstr(msg, "Premature end"))
        return km_seterr(KM_EFORMAT, "truncated JPEG data");
    return km_seterr(KM_EFORMAT, "bad JPEG data: %s", msg);
}

static int decode_into(tjhandle tj, const uint8_t *buf, size_t len, km_pixfmt fmt, km_image **out)
{
    int w = 0, h = 0, subsamp = 0, colorspace = 0;
    if (tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &subsamp, &colorspace) != 0)
        return km_seterr(KM_EFORMAT, "bad JPEG header: %s", tjGetErrorStr2(tj));
    if (w <= 0 || h <= 0)
        return km_seterr(KM_EFORMAT, "bad JPEG header: size %dx%d", w, h);
    if (w > KM_IMAGE_MAX_DIM || h > KM_IMAGE_MAX_DIM)
        return km_seterr(KM_EUNSUPPORTED, "JPEG size %dx%d above the limit of %d", w, h,
                         KM_IMAGE_MAX_DIM);
    km_image *img = km_image_new(w, h, fmt, 0);
    if (!img)
        return KM_ENOMEM;
    int pf = fmt == KM_PIX_GRAY8 ? TJPF_GRAY : TJPF_RGB;
    if (tjDecompress2(tj, buf, (unsigned long)len, img->data, w, (int)img->stride, h, pf, 0) != 0) {
        int rc = decode_failed(tj);
        if (rc < 0) {
            km_image_free(img);
            return rc;
        }
    }
    *out = img;
    return KM_OK;
}

int km_jpeg_decode(const uint8_t *buf, size_t len, km_pixfmt fmt, km_image **out)
{
    *out = NULL;
    if (fmt != KM_PIX_RGB24 && fmt != KM_PIX_GRAY8)
        return km_seterr(KM_EINVAL, "JPEG decode: output must be RGB24 or GRAY8");
    if (!buf || len < 4)
        return km_seterr(KM_EFORMAT, "truncated JPEG data (%zu bytes)", len);
    if (len > 0x7fffffffu)
        return km_seterr(KM_ERANGE, "JPEG data too large (%zu bytes)", len);
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return km_seterr(KM_ENOMEM, "JPEG decode: cannot create decompressor");
    int rc = decode_into(tj, buf, len, fmt, out);
    tjDestroy(tj);
    return rc;
}
