/*
 * media_priv.h - helpers shared by the files of src/media (not public).
 *
 * FFmpeg set-up (log level, error text) and image allocation without the
 * zero fill, which decoders that overwrite every pixel do not need.
 */
#ifndef KINEMA_MEDIA_PRIV_H
#define KINEMA_MEDIA_PRIV_H

#include "kinema/media.h"

/* Silence FFmpeg's logging once per process (AV_LOG_QUIET, or the level
 * named by $KINEMA_AV_LOG: quiet|error|warning|info|debug). */
void km__av_init(void);
/* Load libavdevice and register its inputs (once); 1 if available. */
int km__av_devices(void);
/* Map an AVERROR to a KM_E* code. */
int km__av_code(int averr);
/* FFmpeg's text for an AVERROR into buf (always NUL-terminated). */
const char *km__av_text(int averr, char *buf, size_t cap);
/* Like km_image_new but the pixels are left uninitialised (owned; free
 * with km_image_free). Only for callers that write every row. */
km_image *km__image_new_uninit(int width, int height, km_pixfmt fmt);
/* Zero the bytes between each row's end and its stride (8-bit formats),
 * so whole-row reads and hashes of a converted image are deterministic. */
void km__image_clear_padding(km_image *img);
/* The bytes at a network URL (owned: free()), at most max of them; fails
 * after 10 s. */
int km__url_read(const char *url, size_t max, uint8_t **buf, size_t *len);
/* Lower-case extension of path without the dot ("" if none) into ext. */
void km__path_ext(const char *path, char *ext, size_t cap);

#endif
