/*
 * imageio.c - still images from and to files.
 *
 * Loading trusts the content, not the name: the format is picked by magic
 * bytes, so a PNG saved as .jpg still loads; a network URL (http://...)
 * is fetched first (urlread.c). Saving picks the format by
 * extension and writes atomically (temp file + rename, via util), so a
 * crash never leaves half an image. Errors name the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/media.h"
#include "media/media_priv.h"

#define IMAGE_FILE_MAX ((size_t)512 << 20)
#define DEFAULT_JPEG_QUALITY 95

static int is_jpeg(const uint8_t *b, size_t n)
{
    return n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

static int is_png(const uint8_t *b, size_t n)
{
    static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n' };
    return n >= 8 && memcmp(b, sig, 8) == 0;
}

/* Re-set the current message with "path: " in front. */
static int prefix_error(int rc, const char *path)
{
    char msg[400];
    snprintf(msg, sizeof msg, "%s", km_errmsg());
    return km_seterr(rc, "%s: %s", path, msg);
}

int km_image_load(const char *path, km_pixfmt fmt, km_image **out)
{
    *out = NULL;
    if (fmt != KM_PIX_RGB24 && fmt != KM_PIX_GRAY8)
        return km_seterr(KM_EINVAL, "%s: images load as RGB24 or GRAY8", path);
    uint8_t *buf;
    size_t len;
    int url = strstr(path, "://") && strncmp(path, "file://", 7) != 0;
    int rc = url ? km__url_read(path, IMAGE_FILE_MAX, &buf, &len)
                 : km_read_file(path, IMAGE_FILE_MAX, &buf, &len); /* messages name the path */
    if (rc < 0)
        return rc;
    if (len == 0)
        rc = km_seterr(KM_EFORMAT, "%s: empty file", path);
    else if (is_jpeg(buf, len))
        rc = km_jpeg_decode(buf, len, fmt, out);
    else if (is_png(buf, len))
        rc = km_png_decode(buf, len, fmt, out);
    else
        rc = km_seterr(KM_EFORMAT, "%s: not a JPEG or PNG image", path);
    if (rc < 0 && len > 0 && (is_jpeg(buf, len) || is_png(buf, len)))
        prefix_error(rc, path);
    free(buf);
    return rc;
}

int km_image_save(const char *path, const km_image *img, int quality)
{
    char ext[8];
    km__path_ext(path, ext, sizeof ext);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;
    if (strcmp(ext, "jpg") == 0 || strcmp(ext, "jpeg") == 0)
        rc = km_jpeg_encode(img, quality > 0 ? quality : DEFAULT_JPEG_QUALITY, &buf, &len);
    else if (strcmp(ext, "png") == 0)
        rc = km_png_encode(img, &buf, &len);
    else
        return km_seterr(KM_EUNSUPPORTED, "%s: unknown image extension (use .jpg .jpeg .png)", path);
    if (rc < 0)
        return prefix_error(rc, path);
    rc = km_write_file_atomic(path, buf, len);
    free(buf);
    return rc;
}

int km_is_image_path(const char *path)
{
    char ext[8];
    km__path_ext(path, ext, sizeof ext);
    return strcmp(ext, "jpg") == 0 || strcmp(ext, "jpeg") == 0 || strcmp(ext, "png") == 0;
}
