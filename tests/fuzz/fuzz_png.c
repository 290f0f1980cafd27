/* fuzz_png.c - km_png_decode on arbitrary bytes; the last byte picks
 * RGB24 or GRAY8 output. Seeds: small images encoded at start (the
 * tests/media PNGs are larger than max_len). */
#include "fuzz_image_seeds.h"

static int encode_png(const km_image *img, int i, uint8_t **buf, size_t *len)
{
    (void)i;
    return km_png_encode(img, buf, len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (fz_seed_dir())
        fz_seed_encoded_images(encode_png);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    km_pixfmt fmt = (size && (data[size - 1] & 1)) ? KM_PIX_GRAY8 : KM_PIX_RGB24;
    km_image *img = NULL;
    if (km_png_decode(data, size, fmt, &img) == 0)
        km_image_free(img);
    return 0;
}
