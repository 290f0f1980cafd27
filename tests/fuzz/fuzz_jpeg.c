/* fuzz_jpeg.c - km_jpeg_decode on arbitrary bytes; the last byte picks
 * RGB24 or GRAY8 output. Seeds: small images encoded at start plus
 * tests/media files that fit in max_len. */
#include "fuzz_image_seeds.h"

static int encode_jpeg(const km_image *img, int i, uint8_t **buf, size_t *len)
{
    return km_jpeg_encode(img, 30 + 30 * i, buf, len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!fz_seed_dir())
        return 0;
    fz_seed_encoded_images(encode_jpeg);
    fz_seed_file("messi5.jpg", "tests/media/messi5.jpg", 80000);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    km_pixfmt fmt = (size && (data[size - 1] & 1)) ? KM_PIX_GRAY8 : KM_PIX_RGB24;
    km_image *img = NULL;
    if (km_jpeg_decode(data, size, fmt, &img) == 0)
        km_image_free(img);
    return 0;
}
