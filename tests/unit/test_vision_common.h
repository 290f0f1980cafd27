/*
 * test_vision_common.h - shared by the vision tests: run the OpenCV
 * reference script (bench/vision/cv_ref.py) with Debian's python3 + cv2
 * into a temporary directory and read the .npy files it writes.
 *
 * The reference is required: if python or cv2 is missing the test fails
 * (scripts/install-deps.sh installs them), never silently passes.
 */
#ifndef TEST_VISION_COMMON_H
#define TEST_VISION_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <math.h>

#include "kinema/util.h"
#include "kinema/vision.h"

#define VT_PYTHON "/usr/bin/python3"
#define VT_SCRIPT "bench/vision/cv_ref.py"

typedef struct {
    char dtype;      /* 'u' uint8, 'i' int16/int32, 'f' float32 */
    int itemsize;
    int ndim;
    int shape[4];
    void *data;
} vt_array;

static char vt_dir[256];

/* Make the temp dir vt_dir (once). */
static inline void vt_make_dir(void)
{
    if (!vt_dir[0]) {
        snprintf(vt_dir, sizeof vt_dir, "/tmp/kmvisXXXXXX");
        if (!mkdtemp(vt_dir))
            vt_dir[0] = 0;
    }
}

/* Run `cv_ref.py ARGS`; 0 on success. */
static inline int vt_run_ref(const char *fmt, ...)
{
    if (!vt_dir[0])
        return -1;
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, VT_PYTHON " " VT_SCRIPT " %s", args);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "reference failed (%d): %s\n", rc, cmd);
    return rc;
}

static inline void vt_cleanup(void)
{
    if (vt_dir[0]) {
        if (km_rmtree(vt_dir) != 0)
            fprintf(stderr, "could not remove %s\n", vt_dir);
        vt_dir[0] = 0;
    }
}

/* Minimal .npy reader (v1/v2, little-endian, C order). 0 on success. */
static inline int vt_load(const char *name, vt_array *a)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", vt_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "missing %s\n", path);
        return -1;
    }
    unsigned char pre[12];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) {
        fclose(f);
        return -1;
    }
    size_t hlen = pre[8] | (pre[9] << 8);
    if (pre[6] >= 2) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            fclose(f);
            return -1;
        }
        hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    }
    char *hdr = calloc(1, hlen + 1);
    if (!hdr || fread(hdr, 1, hlen, f) != hlen) {
        free(hdr);
        fclose(f);
        return -1;
    }
    memset(a, 0, sizeof *a);
    char *d = strstr(hdr, "'descr': '");
    char *s = strstr(hdr, "'shape': (");
    if (!d || !s) {
        free(hdr);
        fclose(f);
        return -1;
    }
    d += 10;
    a->dtype = d[1];
    a->itemsize = atoi(d + 2);
    s += 10;
    size_t count = 1;
    while (*s && *s != ')' && a->ndim < 4) {
        while (*s == ' ' || *s == ',')
            s++;
        if (*s == ')')
            break;
        a->shape[a->ndim] = (int)strtol(s, &s, 10);
        count *= (size_t)a->shape[a->ndim++];
    }
    free(hdr);
    a->data = malloc(count * (size_t)a->itemsize + 1);
    size_t got = a->data ? fread(a->data, (size_t)a->itemsize, count, f) : 0;
    fclose(f);
    return got == count ? 0 : -1;
}

/* km_image (GRAY8 for 2-D, RGB24 for H x W x 3) from a uint8 array. */
static inline km_image *vt_image(const vt_array *a)
{
    if (a->dtype != 'u' || a->itemsize != 1)
        return NULL;
    int cn = a->ndim == 3 ? a->shape[2] : 1;
    km_image *img = km_image_new(a->shape[1], a->shape[0], cn == 3 ? KM_PIX_RGB24 : KM_PIX_GRAY8, 0);
    if (!img)
        return NULL;
    for (int y = 0; y < img->height; y++)
        memcpy(km_image_row(img, y), (uint8_t *)a->data + (size_t)y * img->width * cn,
               (size_t)img->width * cn);
    return img;
}

static inline km_image *vt_load_image(const char *name)
{
    vt_array a;
    if (vt_load(name, &a))
        return NULL;
    km_image *img = vt_image(&a);
    free(a.data);
    return img;
}

/* Largest |ours - ref| over an 8-bit image; count of differing pixels. */
static inline int vt_maxdiff_u8(const km_image *img, const vt_array *ref, size_t *ndiff)
{
    int cn = img->channels, m = 0;
    size_t nd = 0;
    for (int y = 0; y < img->height; y++) {
        const uint8_t *p = km_image_row(img, y);
        const uint8_t *q = (const uint8_t *)ref->data + (size_t)y * img->width * cn;
        for (int x = 0; x < img->width * cn; x++) {
            int d = abs(p[x] - q[x]);
            if (d)
                nd++;
            if (d > m)
                m = d;
        }
    }
    if (ndiff)
        *ndiff = nd;
    return m;
}

static inline int vt_maxdiff_s16(const km_image16 *img, const vt_array *ref)
{
    int cn = img->channels, m = 0;
    for (int y = 0; y < img->height; y++) {
        const int16_t *p = km_image16_row(img, y);
        const int16_t *q = (const int16_t *)ref->data + (size_t)y * img->width * cn;
        for (int x = 0; x < img->width * cn; x++) {
            int d = abs(p[x] - q[x]);
            if (d > m)
                m = d;
        }
    }
    return m;
}

#endif
