/* fuzz_haar.c - Haar cascade XML: km_cascade_parse from memory, and the
 * file loader on a tenth of the inputs. */
#include "fuzz_common.h"

#include "kinema/media.h"
#include "kinema/vision.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_seed_str("small.xml",
                "<?xml version=\"1.0\"?><!-- c --><opencv_storage><cascade type_id=\"x\"><featureType>HAAR</featureType>"
                "<width>4</width><height>4</height>"
                "<stages><_><stageThreshold>1</stageThreshold><weakClassifiers><_><internalNodes>0 -1 0 0.1"
                "</internalNodes><leafValues>1 2</leafValues></_></weakClassifiers></_></stages>"
                "<features><_><rects><_>0 0 4 4 -1.</_><_>0 0 2 2 4.</_></rects></_></features></cascade></opencv_storage>");
    fz_seed_str("tree.xml",
                "<opencv_storage><cascade><stageType>BOOST</stageType><featureType>HAAR</featureType>"
                "<height>8</height><width>8</width><stageParams><maxWeakCount>2</maxWeakCount></stageParams>"
                "<featureParams><maxCatCount>0</maxCatCount></featureParams><stageNum>1</stageNum>"
                "<stages><_><maxWeakCount>1</maxWeakCount><stageThreshold>-1.5</stageThreshold>"
                "<weakClassifiers><_><internalNodes>1 -1 0 1.5e-02 -2 -3 1 -0.5</internalNodes>"
                "<leafValues>0.5 -0.5 0.25</leafValues></_></weakClassifiers></_></stages>"
                "<features><_><rects><_>0 0 8 4 -1.</_><_>0 4 8 4 2.</_></rects><tilted>1</tilted></_>"
                "<_><rects><_>1 1 2 2 -1.</_></rects></_></features></cascade></opencv_storage>");
    fz_seed_file("frontalface.xml", "/usr/share/opencv4/haarcascades/haarcascade_eye.xml", 65536);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    km_cascade *c = NULL;
    if (km_cascade_parse((const char *)data, size, &c) == 0) {
        int w = 0, h = 0;
        km_cascade_window(c, &w, &h);
        /* run the parsed cascade once on a small image */
        km_image *img = km_image_new(32, 32, KM_PIX_GRAY8, 1);
        if (img) {
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    img->data[(size_t)y * img->stride + (size_t)x] = (uint8_t)(x * 7 + y * 13);
            km_box *boxes = NULL;
            int n = 0;
            km_detect_opts o = KM_DETECT_OPTS_DEFAULT;
            if (km_cascade_detect(c, img, &o, &boxes, &n, NULL) == 0)
                free(boxes);
            km_image_free(img);
        }
    }
    km_cascade_free(c);
    if (size > 0 && data[size - 1] % 10 == 0) {
        const char *p = fz_tmp_write("cascade", ".xml", data, size);
        if (p) {
            c = NULL;
            if (km_cascade_load(p, &c) == 0)
                km_cascade_free(c);
            unlink(p);
        }
    }
    return 0;
}
