/* fuzz_kp2d.c - km_kp2d_read (2D keypoint JSON) on an arbitrary file; the
 * first byte picks the person id (-1 = best per frame). */
#include "fuzz_common.h"

#include "kinema/geom.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *d = fz_seed_dir();
    if (!d)
        return 0;
    static const km_skeleton sk[2] = {KM_SKEL_COCO17, KM_SKEL_BLAZEPOSE33};
    for (int s = 0; s < 2; s++) {
        km_kp2d k;
        memset(&k, 0, sizeof k);
        if (km_kp2d_alloc(&k, sk[s], 3) != 0)
            continue;
        k.width = 64;
        k.height = 48;
        k.fps = 30;
        for (int f = 0; f < k.nframes; f++) {
            k.frame_index[f] = f;
            k.timestamp[f] = f / 30.0;
            for (int j = 0; j < k.nkp && f != 1; j++) {
                double *q = k.kp + ((size_t)f * k.nkp + j) * 3;
                q[0] = j;
                q[1] = f + j * 0.5;
                q[2] = 0.9;
            }
        }
        /* the file body only: the harness prepends the person byte */
        char path[1024];
        snprintf(path, sizeof path, "%s/tmp-kp%d.json", d, s);
        if (km_kp2d_write(path, &k, "synth", NULL) == 0) {
            FILE *f = fopen(path, "rb");
            uint8_t buf[65536];
            buf[0] = 0xff; /* person -1 */
            size_t n = f ? fread(buf + 1, 1, sizeof buf - 1, f) : 0;
            if (f)
                fclose(f);
            char name[32];
            snprintf(name, sizeof name, "kp%d.json", s);
            if (n > 0)
                fz_seed(name, buf, n + 1);
            unlink(path);
        }
        km_kp2d_free(&k);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int person = data[0] >= 0x80 ? -1 : data[0] & 7;
    const char *p = fz_tmp_write("kp2d", ".json", data + 1, size - 1);
    if (!p)
        return 0;
    km_kp2d k;
    memset(&k, 0, sizeof k);
    km_kp2d_read(p, person, &k);
    km_kp2d_free(&k);
    unlink(p);
    return 0;
}
