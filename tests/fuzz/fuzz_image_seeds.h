/* fuzz_image_seeds.h - seeds for the image decoder harnesses: gradient
 * images of a few sizes, RGB and gray, encoded by kinema's own encoder. */
#ifndef KINEMA_FUZZ_IMAGE_SEEDS_H
#define KINEMA_FUZZ_IMAGE_SEEDS_H

#include "fuzz_common.h"

#include "kinema/media.h"

/* encode(img, i, &buf, &len) encodes seed image number i (0..2) into a
 * malloc'd buffer; 0 on success. */
typedef int (*fz_encode_fn)(const km_image *img, int i, uint8_t **buf, size_t *len);

static inline void fz_seed_encoded_images(fz_encode_fn encode)
{
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
            if (encode(img, i, &buf, &len) == 0) {
                char name[32];
                snprintf(name, sizeof name, "%dx%d-%s", img->width, img->height, g ? "gray" : "rgb");
                fz_seed(name, buf, len);
            }
            free(buf);
            km_image_free(img);
        }
    }
}

#endif
