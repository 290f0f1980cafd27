/*
 * vision_priv.h - helpers shared by the vision kernels: border index maps,
 * row-parallel dispatch, argument checks.
 *
 * Kept internal so the public header stays a list of operations.
 */
#ifndef KINEMA_VISION_PRIV_H
#define KINEMA_VISION_PRIV_H

#include <stdlib.h>
#include <string.h>

#include "kinema/vision.h"

/* Reflect-101: -1 -> 1, n -> n - 2 (n == 1 maps everything to 0). */
static inline int km_reflect101(int i, int n)
{
    if (n == 1)
        return 0;
    while (i < 0 || i >= n) {
        if (i < 0)
            i = -i;
        if (i >= n)
            i = 2 * n - 2 - i;
    }
    return i;
}

static inline int km_clampi(int i, int lo, int hi)
{
    return i < lo ? lo : i > hi ? hi : i;
}

static inline int km_is_u8(const km_image *img)
{
    return img && (img->fmt == KM_PIX_RGB24 || img->fmt == KM_PIX_GRAY8);
}

/* 0 if src and dst are 8-bit images of the same size and format, else
 * KM_EINVAL naming `fn`. */
int vis_check_pair(const km_image *src, const km_image *dst, const char *fn);

/* Run fn(arg, begin, end) over rows [0, n) in bands: a few bands per pool
 * thread so uneven rows balance; NULL pool = one band on the caller. */
void vis_parallel_rows(km_pool *pool, int n, km_range_fn fn, void *arg);

/* Workers cannot return errors: a band that fails to allocate its scratch
 * sets the job's flag (atomically) and the caller reports KM_ENOMEM. */
static inline void vis_mark_failed(const int *flag)
{
    __atomic_store_n((int *)flag, 1, __ATOMIC_RELAXED);
}

/* Padded copy of one 8-bit row: `pad` pixels each side filled by
 * reflect-101 (replicate when `replicate`), cn bytes per pixel. out holds
 * (width + 2 pad) * cn bytes. */
void vis_pad_row_u8(const uint8_t *row, int width, int cn, int pad, int replicate, uint8_t *out);

/* Overflow-checked malloc of n * size bytes, 64-byte aligned; NULL with
 * km_errmsg set. Free with free(). */
void *vis_alloc(size_t n, size_t size);

/* Like km_image16_new without zeroing the pixels (for outputs every pixel
 * of which is written). Free with km_image16_free. */
km_image16 *vis_image16_uninit(int width, int height, int channels);

/* Sobel dx and dy (aperture 3 or 5) of row y of src into dx and dy
 * (width * channels values each), replicate or reflect-101 border.
 * tmpbuf holds (width + 10) * channels int16 values. */
void vis_sobel_xy_row(const km_image *src, int y, int aperture, int replicate, int16_t *dx, int16_t *dy,
                      int16_t *tmpbuf);

/* Gray copy of an 8-bit image (a clone when already gray). Owned. */
km_image *vis_to_gray(const km_image *src);

#endif
