/* fuzz_jpeg.c - km_jpeg_decode on arbitrary bytes; the last byte picks
 * RGB24 or GRAY8 output. Seeds: small images encoded at start plus
 * tests/media files that fit in max_len. */
#include "fuzz_common.h"

#include "kinema/media.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!fz_seed_dir())
        return 0;
    static const int sizes[3][2] = {{1, 1}, {17, 9}, {64, 48}};
    for (int i = 0; i < 3; i++) {
        for (int g = 0; g < 2; g++) {
            km_image *img = km_image_new(sizes[i][0], sizes[i][1], g ? KM_PIX_GRAY8 : KM_PIX_RGB24, 0);
            if (!img)
                continue;
            int bpp = g ? 1 : 3;
            for (int y = 0; y < img->height; y++)
                for (int x = 0; x < img->width * bpp; x++)
                    img->data[(size_t)y * img->stride + (size_t)x] = (uint8_t)(x * 5 + y * 11);
            uint8_t *buf = NULL;
            size_t len = 0;
            int rc = km_jpeg_encode(img, 30 + 30 * i, &buf, &len);
            if (rc == 0) {
                char name[32];
                snprintf(name, sizeof name, "%dx%d-%s", img->width, img->height, g ? "gray" : "rgb");
                fz_seed(name, buf, len);
            }
            free(buf);
            km_image_free(img);
        }
    }
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
