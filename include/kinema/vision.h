/*
 * kinema/vision.h - classic image filters, edges, faces, motion, flow, drawing.
 *
 * Everything here works on 8-bit km_image (RGB24 or GRAY8, 64-byte aligned
 * rows) and is checked against OpenCV 4.6 on the same inputs (see
 * tests/unit/test_vision_*.c). Derivative filters write km_image16 (signed
 * 16-bit, like OpenCV's CV_16S).
 *
 * Conventions of the whole layer:
 *   - Inputs are borrowed; `dst` images are allocated by the caller with the
 *     size (and format, unless stated) of `src`, and must not alias `src`
 *     unless a function says so.
 *   - Every kernel takes an optional km_pool *pool: rows are split in bands
 *     over the pool's workers and the calling thread (a pool of N workers
 *     runs N + 1 threads); NULL runs on the calling thread alone. Results
 *     do not depend on the number of threads.
 *   - Borders: reflect-101 (OpenCV's BORDER_DEFAULT: ...|c b|a b c d|c b|...)
 *     for Gaussian, bilateral, Sobel, Scharr and Laplacian; replicate
 *     (...a a|a b c|c c...) for median and for the gradients inside Canny,
 *     exactly as OpenCV does.
 *   - Errors: KM_EINVAL (bad parameter or mismatched images, message names
 *     the parameter), KM_ENOMEM.
 */
#ifndef KINEMA_VISION_H
#define KINEMA_VISION_H

#include <stdint.h>
#include <stddef.h>
#include "kinema/media.h"
#include "kinema/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------- 16-bit images */

/* Signed 16-bit image with `channels` interleaved values per pixel.
 * stride counts elements (int16_t) between rows; rows are 64-byte aligned. */
typedef struct km_image16 {
    int width, height, channels;
    size_t stride;
    int16_t *data; /* owned */
} km_image16;

/* New zeroed image (channels 1..4); NULL with km_errmsg set on failure.
 * Free with km_image16_free (NULL is a no-op). */
km_image16 *km_image16_new(int width, int height, int channels);
void km_image16_free(km_image16 *img);
static inline int16_t *km_image16_row(const km_image16 *img, int y)
{
    return img->data + (size_t)y * img->stride;
}
/* dst = saturate_u8(|src * scale|) (OpenCV's convertScaleAbs); dst has
 * src's size, GRAY8 for 1 channel, RGB24 for 3. */
int km_convert_scale_abs(const km_image16 *src, km_image *dst, double scale, km_pool *pool);

/* ------------------------------------------------------------ smoothing */

/* Gaussian blur, separable, bit-exact with cv2.GaussianBlur on 8-bit
 * images: OpenCV's kernel (fixed binomial tables for ksize <= 9 when
 * sigma <= 0, otherwise exp(-x^2 / 2 sigma^2) normalised), quantised to
 * 8 fractional bits with error diffusion, 16.16 fixed-point accumulation and
 * round-half-up. ksize odd >= 1, or 0 to derive it from sigma
 * (round(6 sigma + 1) | 1); sigma <= 0 derives it from ksize
 * (0.3 ((ksize - 1) / 2 - 1) + 0.8). Reflect-101 border. dst may equal src. */
int km_gaussian_blur(const km_image *src, km_image *dst, int ksize, double sigma, km_pool *pool);

/* Median of the ksize x ksize window (odd ksize 1..255), replicate border,
 * identical to cv2.medianBlur. 3: sorted columns; 5: a pruned sorting
 * network; larger sizes a constant-time-per-pixel histogram method
 * (Perreault and Hebert 2007). dst may equal src. */
int km_median_blur(const km_image *src, km_image *dst, int ksize, km_pool *pool);

/* Bilateral filter as cv2.bilateralFilter (within 1 level; float sums):
 * diameter d (<= 0: from sigma_space, radius round(1.5 sigma_space)),
 * colour distance the sum of absolute channel differences, circular
 * window, reflect-101 border. dst may equal src. */
int km_bilateral(const km_image *src, km_image *dst, int d, double sigma_color,
                 double sigma_space, km_pool *pool);

/* Morphology with a (2r+1) x (2r+1) square (r 0..64); pixels outside the
 * image are ignored (OpenCV's default border for erode/dilate). dst may
 * equal src. */
int km_dilate(const km_image *src, km_image *dst, int r, km_pool *pool);
int km_erode(const km_image *src, km_image *dst, int r, km_pool *pool);

/* ------------------------------------------------------------ gradients */

/* Sobel derivative (dx, dy) of order 0..2 each (dx + dy >= 1) with ksize 3
 * or 5 (1 means the 3-tap derivative without smoothing), like
 * cv2.Sobel(src, cv2.CV_16S, dx, dy, ksize). dst: src's size and channel
 * count. Reflect-101 border. */
int km_sobel(const km_image *src, km_image16 *dst, int dx, int dy, int ksize, km_pool *pool);
/* Scharr first derivative (dx, dy) = (1, 0) or (0, 1), cv2.Scharr CV_16S. */
int km_scharr(const km_image *src, km_image16 *dst, int dx, int dy, km_pool *pool);
/* Laplacian, cv2.Laplacian(src, cv2.CV_16S, ksize=1|3|5). */
int km_laplacian(const km_image *src, km_image16 *dst, int ksize, km_pool *pool);

/* Canny edges as cv2.Canny(src, low, high, apertureSize=3|5, L2gradient):
 * GRAY8 or RGB24 in (colour: per pixel the channel of largest gradient),
 * GRAY8 out with 255 on edges. Thresholds swap if low > high. */
int km_canny(const km_image *src, km_image *dst, double low, double high, int aperture,
             int l2gradient, km_pool *pool);

/* --------------------------------------------------------------- motion */

typedef struct km_box {
    int x, y, w, h;
} km_box;

typedef struct km_motion_opts {
    int threshold;   /* |a - b| > threshold is motion (0..254); default 25 */
    int blur_ksize;  /* Gaussian before differencing (0 = none); default 5 */
    int open_r;      /* erode then dilate radius (0 = none); default 1 */
    int dilate_r;    /* extra dilation joining nearby blobs; default 3 */
    int min_area;    /* smallest component in pixels kept as a box; default 100 */
} km_motion_opts;
#define KM_MOTION_OPTS_DEFAULT { 25, 5, 1, 3, 100 }

/* Motion between two frames of the same size (RGB24 or GRAY8): mask (GRAY8,
 * caller-allocated, 255 = moving) and boxes of its 8-connected components of
 * at least min_area pixels, largest first. *boxes is malloc'd (caller
 * frees; NULL when none); either output may be NULL if not wanted. opts NULL
 * = defaults. */
int km_motion_detect(const km_image *prev, const km_image *cur, const km_motion_opts *opts,
                     km_image *mask, km_box **boxes, int *nboxes, km_pool *pool);
/* 8-connected components of a binary GRAY8 image (nonzero = foreground):
 * bounding boxes of components with >= min_area pixels, largest first.
 * *boxes malloc'd (caller frees). */
int km_connected_boxes(const km_image *mask, int min_area, km_box **boxes, int *nboxes);

/* --------------------------------------------------------- optical flow */

typedef struct km_flow_opts {
    int levels;      /* pyramid levels (>= 1); default 4 */
    int win_r;       /* integration window radius (box); default 7 */
    int iterations;  /* Gauss-Newton iterations per level; default 5 */
} km_flow_opts;
#define KM_FLOW_OPTS_DEFAULT { 4, 7, 5 }

/* Dense pyramidal Lucas-Kanade flow from `prev` to `next` (GRAY8 or RGB24,
 * same size): `flow` is a caller-allocated KM_PIX_FLOAT image of 2 planes
 * (dx, dy) with prev(x, y) ~ next(x + dx, y + dy). opts NULL = defaults. */
int km_flow_dense(const km_image *prev, const km_image *next, const km_flow_opts *opts,
                  km_image *flow, km_pool *pool);
/* Flow visualisation like OpenCV's sample: hue = direction, value = speed
 * normalised by max_mag (<= 0: the frame's largest speed); RGB24 dst. */
int km_flow_to_rgb(const km_image *flow, km_image *dst, float max_mag);

/* ---------------------------------------------------------- Haar faces */

typedef struct km_cascade km_cascade;

/* Load an OpenCV cascade XML (opencv-cascade-classifier, HAAR features,
 * stumps or trees, tilted features) such as
 * /usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml.
 * Owned; free with km_cascade_free. Malformed files fail with KM_EFORMAT
 * naming the element. */
int km_cascade_load(const char *path, km_cascade **out);
/* Parse from memory (len bytes, need not be NUL-terminated). */
int km_cascade_parse(const char *xml, size_t len, km_cascade **out);
void km_cascade_free(km_cascade *c);
/* Window size the cascade was trained on. */
void km_cascade_window(const km_cascade *c, int *width, int *height);

typedef struct km_detect_opts {
    double scale_factor; /* pyramid step (> 1); default 1.1 */
    int min_neighbors;   /* grouping threshold (0 = no grouping); default 3 */
    int min_w, min_h;    /* smallest object (0 = window size) */
    int max_w, max_h;    /* largest object (0 = image size) */
} km_detect_opts;
#define KM_DETECT_OPTS_DEFAULT { 1.1, 3, 0, 0, 0, 0 }

/* Detect objects as cv2.CascadeClassifier.detectMultiScale: scale pyramid of
 * bilinearly resized images, integral and squared integral images, the
 * window stepped by 2 pixels (1 above scale 2), candidates grouped as
 * groupRectangles(min_neighbors, 0.2). *boxes malloc'd (caller frees). */
int km_cascade_detect(const km_cascade *c, const km_image *img, const km_detect_opts *opts,
                      km_box **boxes, int *nboxes, km_pool *pool);
/* groupRectangles: cluster similar boxes (eps), average each cluster of more
 * than `threshold` members, drop small boxes inside bigger ones. In place;
 * *n is updated. threshold <= 0 leaves the list unchanged. */
int km_group_boxes(km_box *boxes, int *n, int threshold, double eps);

/* Anonymise boxes in place: mode 0 = Gaussian blur of the box (strength =
 * kernel size, odd), 1 = pixelate (strength = cell size in pixels). */
enum { KM_ANON_BLUR = 0, KM_ANON_PIXELATE = 1 };
int km_anonymize(km_image *img, const km_box *boxes, int n, int mode, int strength);

/* -------------------------------------------------------------- drawing */

/* Colours are RGB (GRAY8 images use the first component). Shapes clip to
 * the image; thickness >= 1 (circle: thickness <= 0 fills). */
typedef struct km_rgb {
    uint8_t r, g, b;
} km_rgb;
void km_draw_line(km_image *img, int x0, int y0, int x1, int y1, km_rgb c, int thickness);
void km_draw_rect(km_image *img, km_box box, km_rgb c, int thickness);
void km_draw_circle(km_image *img, int cx, int cy, int radius, km_rgb c, int thickness);
/* Skeleton: keypoints (x, y pairs, npts of them; points with a negative
 * coordinate or score below min_score are skipped; scores may be NULL) and
 * `nedges` index pairs to join. */
void km_draw_skeleton(km_image *img, const float *xy, const float *scores, int npts,
                      const int (*edges)[2], int nedges, float min_score, km_rgb line,
                      km_rgb joint, int thickness);

/* ------------------------------------------------------------- pipeline */

/* A filter pipeline from a string of steps separated by '|', each
 * `name[:arg[:arg...]]`:
 *   gray                       RGB -> GRAY8
 *   rgb                        GRAY8 -> RGB24
 *   gaussian[:ksize[:sigma]]   default 5, 0
 *   blur[:ksize]               alias of gaussian
 *   median[:ksize]             default 5
 *   bilateral[:d[:sc[:ss]]]    default 9, 75, 75
 *   sobel[:dx[:dy[:ksize]]]    |d| as 8-bit; default 1, 0, 3
 *   scharr[:dx[:dy]]           |d| as 8-bit; default 1, 0
 *   laplacian[:ksize]          |L| as 8-bit; default 3
 *   canny[:low[:high[:l2]]]    default 100, 200, 0
 *   dilate[:r] erode[:r]       default 1
 *   threshold[:t]              gray > t -> 255; default 127
 *   motion[:t]                 mask of change from the previous frame
 *   motionboxes[:t]            boxes of change drawn on the frame
 *   flow                       HSV flow picture from the previous frame
 *   faces[:minNeighbors]       boxes around faces (frontalface_default)
 *   anonymize[:blur|pixelate[:strength]]  blur or pixelate faces
 * e.g. "gray|gaussian:7:1.5|canny:100:200". */
typedef struct km_pipeline km_pipeline;

/* Parse and validate; errors (KM_EINVAL) name the step number, its text and
 * the rule. Owned; free with km_pipeline_free. The cascade for face steps
 * is loaded from KINEMA_HAAR_DIR or /usr/share/opencv4/haarcascades. */
int km_pipeline_parse(const char *spec, km_pipeline **out);
void km_pipeline_free(km_pipeline *p);
/* Number of steps, and whether any step keeps state across frames. */
int km_pipeline_steps(const km_pipeline *p);
/* Run all steps on one frame; *out is a new image (owned by the caller,
 * km_image_free). Stateful steps (motion, flow) compare with the previous
 * frame given to this pipeline; the first frame shows no motion. */
int km_pipeline_run(km_pipeline *p, const km_image *in, km_image **out, km_pool *pool);

#ifdef __cplusplus
}
#endif
#endif /* KINEMA_VISION_H */
