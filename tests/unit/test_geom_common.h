/* test_geom_common.h - helpers shared by the geom unit tests: a temporary
 * directory, a small seeded rig, and file writing. */
#ifndef TEST_GEOM_COMMON_H
#define TEST_GEOM_COMMON_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/geom.h"

static char geom_tmp[64];



static inline int geom_tmp_setup(void **state)
{
    (void)state;
    snprintf(geom_tmp, sizeof geom_tmp, "/tmp/km_geom_XXXXXX");
    return mkdtemp(geom_tmp) ? 0 : -1;
}

static inline int geom_tmp_teardown(void **state)
{
    (void)state;
    return km_rmtree(geom_tmp);
}

static inline void geom_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", geom_tmp, name);
}

static inline double v3dist(const double *a, const double *b)
{
    double d0 = a[0] - b[0], d1 = a[1] - b[1], d2 = a[2] - b[2];
    return sqrt(d0 * d0 + d1 * d1 + d2 * d2);
}

static inline void geom_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

#endif
