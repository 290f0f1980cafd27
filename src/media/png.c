/*
 * png.c - PNG encode/decode with libpng, from and to memory.
 *
 * libpng reports errors by longjmp. To keep that safe, each operation keeps
 * every resource it allocates in a context struct owned by the caller of
 * the function that calls setjmp; that function modifies no local variable
 * after setjmp, and the caller frees whatever the context holds on both the
 * success and the error path, so a longjmp can never leak.
 *
 * Decoding reads from a bounded memory buffer (running off its end is
 * reported as truncated data) and normalises every PNG flavour (palette,
 * 1/2/4/16-bit, gray+alpha, RGBA, interlaced) to RGB24 or GRAY8; alpha is
 * dropped, as OpenCV's imread does for colour images.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "kinema/media.h"
#include "media/media_priv.h"

#define PNG_OUT_MAX ((size_t)1 << 31) /* encoded size limit */

/* ------------------------------------------------------------- decoding */

typedef struct {
    png_structp png;
    png_infop info;
    const uint8_t *buf;
    size_t len, pos;
    km_pixfmt want;
    km_image *img;     /* owned until handed to the caller */
    png_bytep *rows;   /* owned */
    int truncated;
    char err[160];
} png_dec;

static void dec_error(png_structp png, png_const_charp msg)
{
    png_dec *d = png_get_error_ptr(png);
    snprintf(d->err, sizeof d->err, "%s", msg);
    png_longjmp(png, 1);
}

static void quiet_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void dec_read(png_structp png, png_bytep out, size_t n)
{
    png_dec *d = png_get_io_ptr(png);
    if (n > d->len - d->pos) {
        d->truncated = 1;
        png_error(png, "truncated PNG data");
    }
    memcpy(out, d->buf + d->pos, n);
    d->pos += n;
}

/* Set the transforms that turn any PNG into 8-bit gray or RGB; returns
 * whether the result is gray. */
static int set_transforms(png_dec *d)
{
    int color_type = png_get_color_type(d->png, d->info);
    int depth = png_get_bit_depth(d->png, d->info);
    png_set_expand(d->png); /* palette -> RGB, low-bit gray -> 8, tRNS -> alpha */
    if (depth == 16)
        png_set_scale_16(d->png);
    png_set_strip_alpha(d->png);
    int gray = !(color_type & PNG_COLOR_MASK_COLOR);
    if (gray && d->want == KM_PIX_RGB24) {
        png_set_gray_to_rgb(d->png);
        gray = 0;
    }
    png_set_interlace_handling(d->png);
    png_read_update_info(d->png, d->info);
    return gray;
}

/* Everything that may longjmp; touches only *d. */
static void decode_body(png_dec *d)
{
    png_set_read_fn(d->png, d, dec_read);
    png_set_user_limits(d->png, KM_IMAGE_MAX_DIM, KM_IMAGE_MAX_DIM);
    png_read_info(d->png, d->info);
    int gray = set_transforms(d);
    png_uint_32 w = png_get_image_width(d->png, d->info);
    png_uint_32 h = png_get_image_height(d->png, d->info);
    size_t channels = gray ? 1 : 3;
    if (png_get_rowbytes(d->png, d->info) != (size_t)w * channels)
        png_error(d->png, "unexpected row size after conversion");
    d->img = km__image_new_uninit((int)w, (int)h, gray ? KM_PIX_GRAY8 : KM_PIX_RGB24);
    if (!d->img)
        png_error(d->png, "out of memory for image");
    d->rows = malloc((size_t)h * sizeof *d->rows);
    if (!d->rows)
        png_error(d->png, "out of memory for rows");
    for (png_uint_32 y = 0; y < h; y++)
        d->rows[y] = km_image_row(d->img, (int)y);
    png_read_image(d->png, d->rows);
}

static int decode_guarded(png_dec *d)
{
    if (setjmp(png_jmpbuf(d->png)))
        return -1;
    decode_body(d);
    return 0;
}

static int to_wanted_format(png_dec *d, km_image **out)
{
    km__image_clear_padding(d->img);
    if (d->img->fmt == d->want) {
        *out = d->img;
        d->img = NULL;
        return KM_OK;
    }
    *out = km_image_convert(d->img, d->want, 1.0f, 0.0f); /* colour -> BT.601 gray */
    return *out ? KM_OK : KM_ENOMEM;
}

int km_png_decode(const uint8_t *buf, size_t len, km_pixfmt fmt, km_image **out)
{
    *out = NULL;
    if (fmt != KM_PIX_RGB24 && fmt != KM_PIX_GRAY8)
        return km_seterr(KM_EINVAL, "PNG decode: output must be RGB24 or GRAY8");
    if (!buf || len < 8)
        return km_seterr(KM_EFORMAT, "truncated PNG data (%zu bytes)", len);
    if (png_sig_cmp(buf, 0, 8) != 0)
        return km_seterr(KM_EFORMAT, "not a PNG file");
    png_dec d = { .buf = buf, .len = len, .want = fmt };
    d.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &d, dec_error, quiet_warning);
    d.info = d.png ? png_create_info_struct(d.png) : NULL;
    int rc;
    if (!d.info)
        rc = km_seterr(KM_ENOMEM, "PNG decode: out of memory");
    else if (decode_guarded(&d) != 0)
        rc = km_seterr(KM_EFORMAT, "%s%s", d.truncated ? "" : "bad PNG data: ",
                       d.err[0] ? d.err : "unknown libpng error");
    else
        rc = to_wanted_format(&d, out);
    png_destroy_read_struct(d.png ? &d.png : NULL, d.info ? &d.info : NULL, NULL);
    free(d.rows);
    km_image_free(d.img);
    return rc;
}

/* ------------------------------------------------------------- encoding */

typedef struct {
    png_structp png;
    png_infop info;
    const km_image *img;
    uint8_t *buf;      /* owned until handed to the caller */
    size_t len, cap;
    char err[160];
} png_enc;

static void enc_error(png_structp png, png_const_charp msg)
{
    png_enc *e = png_get_error_ptr(png);
    snprintf(e->err, sizeof e->err, "%s", msg);
    png_longjmp(png, 1);
}

static void enc_write(png_structp png, png_bytep data, size_t n)
{
    png_enc *e = png_get_io_ptr(png);
    if (n > PNG_OUT_MAX - e->len)
        png_error(png, "encoded PNG too large");
    if (e->len + n > e->cap) {
        size_t cap = e->cap ? e->cap : 65536;
        while (cap < e->len + n)
            cap = cap > PNG_OUT_MAX / 2 ? PNG_OUT_MAX : cap * 2;
        uint8_t *grown = realloc(e->buf, cap);
        if (!grown)
            png_error(png, "out of memory for PNG output");
        e->buf = grown;
        e->cap = cap;
    }
    memcpy(e->buf + e->len, data, n);
    e->len += n;
}

static void enc_flush(png_structp png)
{
    (void)png;
}

static void encode_body(png_enc *e)
{
    const km_image *img = e->img;
    png_set_write_fn(e->png, e, enc_write, enc_flush);
    png_set_IHDR(e->png, e->info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 img->fmt == KM_PIX_GRAY8 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(e->png, 3); /* near level 6's size at about half the time */
    png_write_info(e->png, e->info);
    for (int y = 0; y < img->height; y++)
        png_write_row(e->png, km_image_row(img, y));
    png_write_end(e->png, e->info);
}

static int encode_guarded(png_enc *e)
{
    if (setjmp(png_jmpbuf(e->png)))
        return -1;
    encode_body(e);
    return 0;
}

int km_png_encode(const km_image *img, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!img || (img->fmt != KM_PIX_RGB24 && img->fmt != KM_PIX_GRAY8))
        return km_seterr(KM_EINVAL, "PNG encode: needs an RGB24 or GRAY8 image");
    png_enc e = { .img = img };
    e.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &e, enc_error, quiet_warning);
    e.info = e.png ? png_create_info_struct(e.png) : NULL;
    int rc = KM_OK;
    if (!e.info)
        rc = km_seterr(KM_ENOMEM, "PNG encode: out of memory");
    else if (encode_guarded(&e) != 0)
        rc = km_seterr(KM_ENOMEM, "PNG encode: %s", e.err[0] ? e.err : "libpng error");
    png_destroy_write_struct(e.png ? &e.png : NULL, e.info ? &e.info : NULL);
    if (rc < 0) {
        free(e.buf);
        return rc;
    }
    *out = e.buf;
    *len = e.len;
    return KM_OK;
}
