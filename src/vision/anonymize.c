/*
 * anonymize.c - hide regions (faces) by a strong Gaussian blur or by
 * pixelation. Boxes are clipped to the image; the blur works on a copy of
 * the box only, so its cost follows the box area, not the frame's.
 */
#include "vision/vision_priv.h"

static int clip_box(const km_image *img, km_box b, km_box *out)
{
    int x0 = b.x < 0 ? 0 : b.x, y0 = b.y < 0 ? 0 : b.y;
    long x1 = (long)b.x + b.w, y1 = (long)b.y + b.h;
    if (x1 > img->width)
        x1 = img->width;
    if (y1 > img->height)
        y1 = img->height;
    if (b.w <= 0 || b.h <= 0 || x1 <= x0 || y1 <= y0)
        return 0;
    *out = (km_box){x0, y0, (int)x1 - x0, (int)y1 - y0};
    return 1;
}

static int blur_box(km_image *img, km_box b, int ksize)
{
    km_image *roi = km_image_new(b.w, b.h, img->fmt, 0);
    if (!roi)
        return KM_ENOMEM;
    size_t bytes = (size_t)b.w * img->channels;
    for (int y = 0; y < b.h; y++)
        memcpy(km_image_row(roi, y), km_image_row(img, b.y + y) + (size_t)b.x * img->channels, bytes);
    int rc = km_gaussian_blur(roi, roi, ksize, 0, NULL);
    if (!rc)
        for (int y = 0; y < b.h; y++)
            memcpy(km_image_row(img, b.y + y) + (size_t)b.x * img->channels, km_image_row(roi, y), bytes);
    km_image_free(roi);
    return rc;
}

static void pixelate_box(km_image *img, km_box b, int cell)
{
    int cn = img->channels;
    for (int cy = b.y; cy < b.y + b.h; cy += cell)
        for (int cx = b.x; cx < b.x + b.w; cx += cell) {
            int ey = cy + cell < b.y + b.h ? cy + cell : b.y + b.h;
            int ex = cx + cell < b.x + b.w ? cx + cell : b.x + b.w;
            uint32_t sum[3] = {0, 0, 0}, n = (uint32_t)((ey - cy) * (ex - cx));
            for (int y = cy; y < ey; y++) {
                const uint8_t *p = km_image_row(img, y) + (size_t)cx * cn;
                for (int x = 0; x < (ex - cx) * cn; x++)
                    sum[x % cn] += p[x];
            }
            for (int y = cy; y < ey; y++) {
                uint8_t *p = km_image_row(img, y) + (size_t)cx * cn;
                for (int x = 0; x < (ex - cx) * cn; x++)
                    p[x] = (uint8_t)((sum[x % cn] + n / 2) / n);
            }
        }
}

int km_anonymize(km_image *img, const km_box *boxes, int n, int mode, int strength)
{
    if (!km_is_u8(img) || (n > 0 && !boxes) || n < 0)
        return km_seterr(KM_EINVAL, "anonymize: need an 8-bit image and n >= 0 boxes");
    if (mode != KM_ANON_BLUR && mode != KM_ANON_PIXELATE)
        return km_seterr(KM_EINVAL, "anonymize: mode %d is neither blur (0) nor pixelate (1)", mode);
    if (strength < 1 || strength > 255)
        return km_seterr(KM_EINVAL, "anonymize: strength %d outside 1..255", strength);
    for (int i = 0; i < n; i++) {
        km_box b;
        if (!clip_box(img, boxes[i], &b))
            continue;
        if (mode == KM_ANON_PIXELATE) {
            pixelate_box(img, b, strength);
        } else {
            int rc = blur_box(img, b, strength | 1);
            if (rc)
                return rc;
        }
    }
    return 0;
}
