/*
 * kinema/pose.h - human pose estimation: keypoint formats, BlazePose and
 * MoveNet pipelines, ensemble fusion and a multi-person tracker.
 *
 * Why one header: everything above `nn/` that turns an RGB image into
 * keypoints lives here, so the CLI, the server and the tests share one
 * vocabulary (km_person, km_pose_result) and one set of pipelines.
 *
 * Coordinates: keypoint x, y are pixels of the image given to the
 * estimator (pixel centres at .5, the image spans [0, width] x [0, height]).
 * Scores are in [0, 1].
 *
 * Threading: a km_pose_net holds read-only weights and may be shared by any
 * number of threads; a km_pose_estimator (one executor plus video tracking
 * state) is used by one thread at a time. The fusion and tracking helpers
 * are pure functions of their inputs plus explicit state objects.
 */
#ifndef KINEMA_POSE_H
#define KINEMA_POSE_H

#include <stdint.h>
#include "kinema/util.h"
#include "kinema/media.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --------------------------------------------------------- keypoint sets */

typedef enum {
    KM_KP_COCO17 = 0,    /* COCO order: nose, eyes, ears, shoulders, ... */
    KM_KP_BLAZE33 = 1,   /* BlazePose/MediaPipe order (33 landmarks) */
} km_kp_format;

#define KM_COCO17_N 17
#define KM_BLAZE33_N 33
#define KM_POSE_MAX_KP 33
#define KM_POSE_MAX_PERSONS 16

/* Number of keypoints of a format (17 or 33; 0 if unknown). */
int km_kp_count(km_kp_format f);
/* Static name of keypoint i ("left_shoulder"), or NULL when out of range. */
const char *km_kp_name(km_kp_format f, int i);
/* "coco17" or "blazepose33". Static. */
const char *km_kp_format_name(km_kp_format f);
/* BlazePose-33 index of COCO-17 keypoint `coco` (each COCO keypoint has
 * exactly one BlazePose counterpart), or -1 when out of range. */
int km_kp_blaze_of_coco(int coco);
/* COCO-17 index of BlazePose-33 keypoint `blaze`, or -1 if it has none. */
int km_kp_coco_of_blaze(int blaze);
/* Skeleton edges for drawing: *edges points to a static array of
 * 2 * count indices. Returns count. */
int km_kp_edges(km_kp_format f, const int **edges);
/* COCO OKS sigma of COCO-17 keypoint i (Ronchi & Perona values). */
float km_kp_coco_sigma(int i);

/* --------------------------------------------------------------- persons */

typedef struct km_keypoint {
    float x, y;       /* pixels of the input image */
    float score;      /* confidence in [0, 1] (BlazePose: visibility) */
} km_keypoint;

typedef struct km_person {
    int id;                             /* track id (-1 before tracking) */
    float score;                        /* person confidence in [0, 1] */
    float bbox[4];                      /* x, y, w, h in pixels */
    km_kp_format format;
    int nkp;                            /* km_kp_count(format) */
    km_keypoint kp[KM_POSE_MAX_KP];
    int has_3d;                         /* 1: world[] is filled */
    float world[KM_POSE_MAX_KP][3];     /* metres, hip-centred (BlazePose) */
    float presence[KM_POSE_MAX_KP];     /* BlazePose presence, else = score */
    float spread[KM_POSE_MAX_KP];       /* ensemble: spread between models
                                           in pixels; 0 for one model */
    int nmodels[KM_POSE_MAX_KP];        /* ensemble: models kept per point */
} km_person;

typedef struct km_pose_result {
    int n;                              /* persons in p[] */
    km_person p[KM_POSE_MAX_PERSONS];
} km_pose_result;

/* Copy of `in` (BlazePose-33) as COCO-17 into `out` (may alias in). */
void km_person_to_coco(const km_person *in, km_person *out);
/* Recompute bbox from the keypoints with score >= min_score (all keypoints
 * when fewer than two pass). */
void km_person_update_bbox(km_person *p, float min_score);

/* ------------------------------------------------------------- geometry */

/* A rotated rectangle in image pixels: centre, size, rotation (radians,
 * clockwise in image coordinates: +x right, +y down). */
typedef struct km_roi {
    float cx, cy, w, h, rot;
} km_roi;

/* The square that letterboxes a w x h image (centred, side max(w, h)). */
km_roi km_roi_letterbox(int w, int h);
/* MediaPipe's alignment ROI: centre at (x0, y0), side 2*|p1-p0|*scale,
 * rotated so that p1 lies straight above p0. */
km_roi km_roi_from_points(float x0, float y0, float x1, float y1, float scale);
/* Map a point in crop coordinates (u, v in [0, out_w] x [0, out_h], pixel
 * centres at .5) of `roi` sampled at out_w x out_h to image pixels, and
 * back. */
void km_roi_to_image(const km_roi *roi, int out_w, int out_h, float u, float v,
                     float *x, float *y);
void km_roi_from_image(const km_roi *roi, int out_w, int out_h, float x, float y,
                       float *u, float *v);

/* Sample `roi` of an RGB24 image into out (out_h x out_w x 3 floats, NHWC,
 * caller-owned), value = pixel * scale + offset; pixels outside the image
 * are 0 before scaling. Bilinear; with antialias != 0 and an unrotated ROI
 * larger than the output, a triangle filter as wide as the scale factor
 * (like a bilinear downscale in swscale) instead. round_int != 0 rounds the
 * sampled value to the nearest integer first (uint8 models). */
int km_roi_sample(const km_image *img, const km_roi *roi, int out_w, int out_h,
                  float scale, float offset, int antialias, int round_int,
                  float *out);

/* ------------------------------------------------- SSD anchors and NMS */

typedef struct km_anchor { float x, y, w, h; } km_anchor;

/* MediaPipe SSD anchors for a square input: one layer per stride, layers
 * with the same stride merged (2 anchors per layer per cell, fixed size
 * 1x1). Writes at most `cap` anchors, returns the count needed (2254 for
 * pose_detection: size 224, strides 8,16,32,32,32). */
int km_ssd_anchors(int input_size, const int *strides, int nstrides,
                   km_anchor *out, int cap);

#define KM_DET_MAX_KP 4
typedef struct km_detection {
    float score;
    float xmin, ymin, xmax, ymax;          /* normalised to the input */
    float kp[KM_DET_MAX_KP][2];            /* normalised x, y */
} km_detection;

/* Decode raw SSD outputs (reg: n x 12, logits: n) into detections with
 * sigmoid(score) >= min_score; writes at most cap, returns the count. */
int km_ssd_decode(const float *reg, const float *logits, const km_anchor *anchors,
                  int n, int input_size, float min_score, km_detection *out, int cap);
/* Weighted non-max suppression (MediaPipe WEIGHTED): dets sorted by score,
 * each kept detection is the score-weighted mean of those overlapping it
 * with IoU > iou_thr. In place; returns the number kept. */
int km_weighted_nms(km_detection *dets, int n, float iou_thr);
float km_box_iou(const float a[4], const float b[4]); /* boxes as x, y, w, h */

/* ---------------------------------------------------------------- models */

typedef enum {
    KM_POSE_BLAZEPOSE_LITE = 0,
    KM_POSE_BLAZEPOSE_FULL,
    KM_POSE_BLAZEPOSE_HEAVY,
    KM_POSE_MOVENET_LIGHTNING,
    KM_POSE_MOVENET_THUNDER,
    KM_POSE_MOVENET_MULTIPOSE,
    KM_POSE_NKINDS
} km_pose_kind;

/* "blazepose-full" etc. Static; NULL if out of range. */
const char *km_pose_kind_name(km_pose_kind k);
/* Parse a model name; KM_EINVAL naming the valid names if unknown. */
int km_pose_kind_parse(const char *name, km_pose_kind *out);
/* Keypoint format a kind produces. */
km_kp_format km_pose_kind_format(km_pose_kind k);

typedef struct km_pose_opts {
    int precision;          /* km_precision of nn.h (0 = auto: bf16 where the CPU has it, the
                             * BlazePose detector fp32) */
    float min_person;       /* drop persons scoring below; <= 0: the
                               defaults, 0.5 BlazePose, 0.2 MoveNet */
} km_pose_opts;

typedef struct km_pose_net km_pose_net;

/* Load the model files of `kind` from models_dir (tflite/ and tfjs/
 * inside). opts may be NULL. Free with km_pose_net_free. */
int km_pose_net_load(km_pose_net **out, km_pose_kind kind, const char *models_dir,
                     const km_pose_opts *opts);
km_pose_kind km_pose_net_kind(const km_pose_net *net);
/* FLOPs of one inference of each stage (detector + landmarks for
 * BlazePose). */
double km_pose_net_flops(const km_pose_net *net);
/* Free the networks; every estimator of `net` must be freed first. NULL is
 * a no-op. */
void km_pose_net_free(km_pose_net *net);

typedef struct km_pose_estimator km_pose_estimator;

/* A new executor for `net` (borrowed; must outlive the estimator). */
int km_pose_estimator_new(km_pose_estimator **out, const km_pose_net *net);
/* Estimate poses on an RGB24 image (borrowed). track != 0 uses and
 * updates the video state (BlazePose ROI from the previous landmarks,
 * MoveNet crop region); track == 0 treats the image as a still. `out` is
 * caller-owned and overwritten; ids are -1. */
int km_pose_estimate(km_pose_estimator *e, const km_image *img, int track,
                     km_pose_result *out);
/* Forget the video state (next frame starts from detection). */
void km_pose_estimator_reset(km_pose_estimator *e);
/* Number of detector runs so far (BlazePose; for tests and stats). */
int64_t km_pose_estimator_detector_runs(const km_pose_estimator *e);
/* NULL is a no-op. */
void km_pose_estimator_free(km_pose_estimator *e);

/* Decoders on raw network outputs, exposed for tests. Heads are NHWC of
 * size gh x gw: heatmap 17, center 1, regress 34, offset 34 channels
 * (box_scale, box_offset 2 channels for MultiPose). Outputs are normalised
 * to the network input ([0, 1]). */
int km_movenet_decode_single(const float *heatmap, const float *center,
                             const float *regress, const float *offset,
                             int gh, int gw, float kp_out[17][3]);
/* MultiPose: writes 6 instances as 56 floats each (17 x (y, x, score),
 * ymin, xmin, ymax, xmax, score) exactly like the TF.js model's output,
 * except that instances whose centre score is below min_center (so their
 * score would be too) are left all zero without decoding (0: decode all). */
int km_movenet_decode_multi(const float *heatmap, const float *center,
                            const float *regress, const float *offset,
                            const float *box_scale, const float *box_offset,
                            int gh, int gw, float min_center, float out[6][56]);

/* ---------------------------------------------------------------- fusion */

typedef struct km_fuse_opts {
    km_kp_format format;     /* output format. BLAZE33: COCO-17 inputs take
                                part in their 17 points only, the other 16
                                come from the BlazePose inputs alone */
    float kp_threshold;      /* drop keypoints below (default 0.3) */
    float match_threshold;   /* min OKS/IoU to match persons (default 0.3) */
} km_fuse_opts;

/* Fuse `n` results of different models on the same frame. weights[i] is
 * the weight of model i (NULL: all 1). Persons are matched across models
 * by OKS (box IoU when keypoints are missing); each fused keypoint is the
 * confidence-weighted mean of the models scoring >= kp_threshold, with
 * spread = weighted RMS distance of those models from the mean. The fused
 * score is the weight-averaged score over the models seeing the person.
 * out is caller-owned and must not alias an input. */
int km_pose_fuse(const km_pose_result *const *in, int n, const float *weights,
                 const km_fuse_opts *opts, km_pose_result *out);
/* Object keypoint similarity of two persons (any formats, compared in
 * COCO-17; area from a's bbox) over the keypoints both score >= min_score;
 * -1 when they share fewer than two. */
float km_pose_oks(const km_person *a, const km_person *b, float min_score);

/* --------------------------------------------------------------- tracker */

typedef struct km_pose_tracker km_pose_tracker;

/* Greedy tracker: each frame's persons are matched to live tracks by a
 * mix of OKS and box IoU; unmatched persons start new ids (0, 1, ...);
 * tracks unseen for more than max_age frames are dropped. */
km_pose_tracker *km_pose_tracker_new(int max_age, float min_similarity);
/* (NULL with km_errmsg() set on failure; free with km_pose_tracker_free,
 * NULL is a no-op there.) */
/* Assign ids in `r` (in place). */
void km_pose_tracker_update(km_pose_tracker *t, km_pose_result *r);
void km_pose_tracker_free(km_pose_tracker *t);

/* -------------------------------------------------------------- pipeline */

/* Several models on a stream of frames: inferences of different frames and
 * models run in parallel on a private km_pool (one thread per inference);
 * results are fused (when more than one model) and given track ids. */
typedef struct km_pose_pipeline_opts {
    const km_pose_kind *kinds;  /* models to run (borrowed, copied) */
    int nkinds;                 /* 1..8 */
    const float *weights;       /* per model, NULL: all 1 */
    const char *models_dir;     /* NULL: "models" */
    km_pose_net *const *nets;   /* NULL: load kinds[] from models_dir;
                                   else nets[k] runs kinds[k] (borrowed,
                                   must outlive the pipeline) */
    int threads;                /* pool threads; <= 0: online CPUs */
    int precision;              /* km_precision */
    int track;                  /* 1: frames are consecutive video frames */
    km_fuse_opts fuse;          /* zeroed: defaults (thresholds 0.3);
                                   fuse.format BLAZE33 is honoured when a
                                   model gives 33 points, and is the default
                                   when all do */
} km_pose_pipeline_opts;

typedef struct km_pose_pipeline km_pose_pipeline;

/* Load the models (each once; estimators share the weights) and start the
 * pool. Free with km_pose_pipeline_free (NULL is a no-op). */
int km_pose_pipeline_new(km_pose_pipeline **out, const km_pose_pipeline_opts *o);
/* Keypoint format of the results. */
km_kp_format km_pose_pipeline_format(const km_pose_pipeline *p);
/* Largest number of frames one km_pose_pipeline_run call takes. */
int km_pose_pipeline_batch(const km_pose_pipeline *p);
/* Estimate poses on n <= batch consecutive RGB24 frames (borrowed);
 * results[0..n) are caller-owned and overwritten. */
int km_pose_pipeline_run(km_pose_pipeline *p, const km_image *const *frames, int n,
                         km_pose_result *results);
/* The same in two halves, so the caller can decode the next frames while
 * these run: submit starts n <= batch frames (the images stay borrowed and
 * must live until collect; the array itself is copied); collect waits and
 * writes results[0..n). One batch in flight at a time. */
int km_pose_pipeline_submit(km_pose_pipeline *p, const km_image *const *frames, int n);
int km_pose_pipeline_collect(km_pose_pipeline *p, km_pose_result *results);
/* Model k's own result for frame i of the batch last collected, before
 * fusion and track ids (valid until the next submit; NULL if out of
 * range or no batch was collected). */
const km_pose_result *km_pose_pipeline_model_result(const km_pose_pipeline *p, int i, int k);
void km_pose_pipeline_free(km_pose_pipeline *p);

/* ---------------------------------------------------------------- output */

typedef enum { KM_POSE_OUT_JSON, KM_POSE_OUT_CSV, KM_POSE_OUT_NPY } km_pose_out_fmt;

typedef struct km_pose_stream_info {
    const char *input;          /* shown as "input" */
    int width, height;
    double fps;                 /* 0 for a still image */
    const char *const *models;  /* model names */
    int nmodels;
    km_kp_format format;
} km_pose_stream_info;

typedef struct km_pose_writer km_pose_writer;

/* Open a writer to `path` (NULL or "-": stdout). Files are written to a
 * temporary name and renamed by km_pose_writer_close. JSON and CSV stream
 * frame by frame; NPY keeps the keypoints until close (array
 * [frames, persons, keypoints, 3] of x, y, score, NaN where absent; the
 * person axis is the track id). info is copied. */
int km_pose_writer_open(km_pose_writer **out, const char *path, km_pose_out_fmt fmt,
                        const km_pose_stream_info *info);
int km_pose_writer_frame(km_pose_writer *w, int64_t frame, double timestamp,
                         const km_pose_result *r);
/* Finish and commit the file; frees w. */
int km_pose_writer_close(km_pose_writer *w);
/* Drop the partial output; frees w. NULL is a no-op. */
void km_pose_writer_abort(km_pose_writer *w);

/* --------------------------------------------------------------- overlay */

/* Draw skeletons, keypoints with score >= min_score, and boxes onto an
 * RGB24 image in place. */
void km_pose_draw(km_image *img, const km_pose_result *r, float min_score);

#ifdef __cplusplus
}
#endif
#endif /* KINEMA_POSE_H */
