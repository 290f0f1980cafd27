/* test_geom_common.h - helpers shared by the geom unit tests: a temporary
 * directory (tc_tmpdir() of test_common.h) and 3-D distance. */
#ifndef TEST_GEOM_COMMON_H
#define TEST_GEOM_COMMON_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/geom.h"
#include "test_common.h"

/* Group setup: a fresh temporary directory, tc_tmpdir(). */
static inline int geom_tmp_setup(void **state)
{
    (void)state;
    return tc_tmpdir_make("km_geom");
}

static inline double v3dist(const double *a, const double *b)
{
    double d0 = a[0] - b[0], d1 = a[1] - b[1], d2 = a[2] - b[2];
    return sqrt(d0 * d0 + d1 * d1 + d2 * d2);
}

#endif
