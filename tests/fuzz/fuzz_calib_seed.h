/* fuzz_calib_seed.h - a two-camera calibration written as seeds by the
 * calibration harnesses (TOML and JSON). */
#ifndef KINEMA_FUZZ_CALIB_SEED_H
#define KINEMA_FUZZ_CALIB_SEED_H

#include "fuzz_common.h"

#include "kinema/geom.h"

static inline void fz_calib_seeds(int (*writer)(const char *, const km_calib *), const char *ext)
{
    const char *d = fz_seed_dir();
    if (!d)
        return;
    km_camera cams[2];
    memset(cams, 0, sizeof cams);
    for (int i = 0; i < 2; i++) {
        km_camera *c = &cams[i];
        snprintf(c->name, sizeof c->name, "cam_%02d", i + 1);
        c->width = 640;
        c->height = 480;
        double K[9] = {500, 0, 320, 0, 500 + i, 240, 0, 0, 1};
        memcpy(c->K, K, sizeof K);
        c->dist[0] = 0.01 * i;
        c->rvec[1] = 0.3 * i;
        c->t[0] = -0.5 * i;
        c->t[2] = 2.0;
        km_camera_update(c);
    }
    km_calib cal = {2, cams};
    char path[1024];
    snprintf(path, sizeof path, "%s/seed-two%s", d, ext);
    writer(path, &cal);
    cal.ncams = 1;
    snprintf(path, sizeof path, "%s/seed-one%s", d, ext);
    writer(path, &cal);
}

#endif
