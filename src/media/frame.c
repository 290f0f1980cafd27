/*
 * frame.c - refcounted frames.
 *
 * A decoded frame is often consumed by several threads at once (models,
 * cameras, an overlay writer). Each holder takes a reference; the last
 * km_frame_unref frees the frame and its image, as FFmpeg's AVFrame does.
 */
#include <stdlib.h>

#include "kinema/media.h"

/* The public struct keeps the count as a plain int so the header needs no
 * <stdatomic.h>; all access goes through these atomic builtins. */

km_frame *km_frame_new(km_image *img, int64_t index, int64_t pts, double time_s)
{
    if (!img) {
        km_seterr(KM_EINVAL, "km_frame_new: no image");
        return NULL;
    }
    km_frame *f = malloc(sizeof *f);
    if (!f) {
        km_seterr(KM_ENOMEM, "out of memory for frame");
        return NULL;
    }
    f->img = img;
    f->index = index;
    f->pts = pts;
    f->time_s = time_s;
    f->refcount_ = 1;
    return f;
}

km_frame *km_frame_ref(km_frame *f)
{
    __atomic_fetch_add(&f->refcount_, 1, __ATOMIC_RELAXED);
    return f;
}

void km_frame_unref(km_frame *f)
{
    if (!f)
        return;
    if (__atomic_fetch_sub(&f->refcount_, 1, __ATOMIC_ACQ_REL) == 1) {
        km_image_free(f->img);
        free(f);
    }
}
