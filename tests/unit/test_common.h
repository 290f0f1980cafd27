/*
 * test_common.h - helpers shared by the unit tests.
 *
 * Each tests/unit/test_*.c is its own program, so everything here is
 * `static inline` (no unused-function warnings for what a test does not
 * use). Include it after <cmocka.h>: the helpers that can fail assert.
 *
 *   temporary directory  tc_tmpdir_make(prefix) in a group setup,
 *                        tc_tmpdir_teardown as the group teardown,
 *                        tc_tmp_path(out, cap, name) for files in it
 *   files                tc_write_file, tc_write_text, tc_count_entries
 *   images               tc_images_equal, tc_image_mae
 *   random numbers       tc_urand, tc_rand_floats (seeded, reproducible)
 *   model files          tc_models_dir (whole-model tests skip without)
 *
 * Area-specific helpers stay in test_geom_common.h / test_vision_common.h.
 */
#ifndef TEST_COMMON_H
#define TEST_COMMON_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinema/media.h"
#include "kinema/util.h"

/* --------------------------------------------------------- model files */

/* Where the whole-model tests find models/: $KM_MODELS_DIR (or the older
 * $KINEMA_MODELS), else "models" (scripts/fetch-models.sh). */
static inline const char *tc_models_dir(void)
{
    const char *d = getenv("KM_MODELS_DIR");
    if (!d || !*d)
        d = getenv("KINEMA_MODELS");
    return d && *d ? d : "models";
}

/* ------------------------------------------------------- temp directory */

/* The test program's temporary directory ("" until tc_tmpdir_make). */
static inline char *tc_tmpdir(void)
{
    static char dir[64];
    return dir;
}

/* Create a fresh /tmp/PREFIX_XXXXXX as tc_tmpdir(); 0 or -1 (so it can be
 * returned from a cmocka setup). */
static inline int tc_tmpdir_make(const char *prefix)
{
    char *dir = tc_tmpdir();
    snprintf(dir, 64, "/tmp/%s_XXXXXX", prefix);
    return mkdtemp(dir) ? 0 : -1;
}

/* cmocka teardown: remove tc_tmpdir() and everything in it. */
static inline int tc_tmpdir_teardown(void **state)
{
    (void)state;
    return km_rmtree(tc_tmpdir());
}

/* out = tc_tmpdir()/name. */
static inline void tc_tmp_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tc_tmpdir(), name);
}

/* ---------------------------------------------------------------- files */

/* Write n bytes to path (plain stdio: no fsync, no temp file). */
static inline void tc_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Write the string text (without its NUL) to path. */
static inline void tc_write_text(const char *path, const char *text)
{
    tc_write_file(path, text, strlen(text));
}

/* Number of entries in dir, "." and ".." excluded. If nmatch is not NULL
 * it gets how many of them have `substr` in their name. */
static inline int tc_count_entries(const char *dir, const char *substr, int *nmatch)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0, m = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n++;
        if (substr && strstr(e->d_name, substr))
            m++;
    }
    closedir(d);
    if (nmatch)
        *nmatch = m;
    return n;
}

/* --------------------------------------------------------------- images */

/* 1 if a and b (RGB24 or GRAY8) have the same size, format and pixels. */
static inline int tc_images_equal(const km_image *a, const km_image *b)
{
    if (a->width != b->width || a->height != b->height || a->fmt != b->fmt)
        return 0;
    size_t row = (size_t)a->width * (a->fmt == KM_PIX_RGB24 ? 3 : 1);
    for (int y = 0; y < a->height; y++)
        if (memcmp(km_image_row(a, y), km_image_row(b, y), row) != 0)
            return 0;
    return 1;
}

/* Mean absolute difference per sample of two RGB24 or GRAY8 images, which
 * must have the same size and format (asserted). */
static inline double tc_image_mae(const km_image *a, const km_image *b)
{
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    assert_int_equal(a->fmt, b->fmt);
    int bpp = a->fmt == KM_PIX_RGB24 ? 3 : 1;
    double sum = 0;
    for (int y = 0; y < a->height; y++) {
        const uint8_t *p = km_image_row(a, y), *q = km_image_row(b, y);
        for (int x = 0; x < a->width * bpp; x++)
            sum += abs((int)p[x] - (int)q[x]);
    }
    return sum / ((double)a->width * a->height * bpp);
}

/* ------------------------------------------------------- random numbers */

/* Uniform in [0, 1) from a 64-bit LCG whose state the caller keeps (and
 * seeds), so a test's sequence does not depend on other tests. */
static inline double tc_urand(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*state >> 11) / 9007199254740992.0;
}

/* n floats uniform in [lo, hi) (malloc'd, at least one element). */
static inline float *tc_rand_floats(uint64_t *state, int64_t n, double lo, double hi)
{
    float *d = malloc(sizeof(float) * (size_t)(n ? n : 1));
    assert_non_null(d);
    for (int64_t i = 0; i < n; i++)
        d[i] = (float)(lo + tc_urand(state) * (hi - lo));
    return d;
}

#endif
