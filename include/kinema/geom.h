/*
 * kinema/geom.h - multi-camera geometry: cameras, calibration files,
 * robust triangulation, temporal filters, self-calibration from people,
 * 2D keypoint files, 3D exports and a synthetic multi-view generator.
 *
 * Why one header: the layer is used as a whole by the CLI (synth,
 * triangulate, calibrate) and by the pipeline; it depends only on util.
 *
 * Conventions of the layer:
 *   - World units are metres, z up (after self-calibration the floor is at
 *     z = 0). A camera maps a world point X to camera coordinates
 *     p = R X + t (R from the Rodrigues vector rvec), then to pixels with
 *     the OpenCV pinhole + 5-parameter distortion model (k1 k2 p1 p2 k3).
 *   - Sequences of points are dense row-major double arrays:
 *     2D [frames][keypoints][3] = (x, y, score), 3D [frames][keypoints][3]
 *     = (x, y, z). A missing 2D point has score 0; a missing 3D point is NaN.
 *   - Fallible functions return 0 or a negative KM_E* code with km_errmsg()
 *     set (naming the file and field for file readers).
 *   - Ownership is stated on each function. Structs filled by a reader are
 *     released with the matching *_free, which also accepts zeroed structs.
 */
#ifndef KINEMA_GEOM_H
#define KINEMA_GEOM_H

#include <stddef.h>
#include <stdint.h>

#include "kinema/util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KM_GEOM_MAX_CAMERAS 32     /* a camera mask is one uint32_t */
#define KM_GEOM_MAX_KEYPOINTS 256
#define KM_GEOM_MAX_FRAMES 10000000
#define KM_CAM_NAME_MAX 64

/* ------------------------------------------------------------- skeletons */

typedef enum {
    KM_SKEL_NONE = 0,
    KM_SKEL_COCO17,
    KM_SKEL_BLAZEPOSE33,
} km_skeleton;

/* Number of keypoints (17 or 33; 0 for NONE). */
int km_skeleton_count(km_skeleton s);
/* Static name of keypoint i ("left_ankle"), NULL when out of range. */
const char *km_skeleton_name(km_skeleton s, int i);
/* "coco17" / "blazepose33" (static strings), and the reverse (NONE if
 * unknown). */
const char *km_skeleton_id(km_skeleton s);
km_skeleton km_skeleton_parse(const char *id);
/* Index of the keypoint called `name` in s, or -1. */
int km_skeleton_find(km_skeleton s, const char *name);

/* ---------------------------------------------------------------- camera */

typedef struct km_camera {
    char name[KM_CAM_NAME_MAX];
    int width, height;
    double K[9];    /* row-major [fx s cx; 0 fy cy; 0 0 1] */
    double dist[5]; /* k1 k2 p1 p2 k3 */
    double rvec[3]; /* Rodrigues vector, world -> camera */
    double t[3];    /* translation, world -> camera (metres) */
    double R[9];    /* derived by km_camera_update */
} km_camera;

/* Recompute R from rvec; call after changing rvec. */
void km_camera_update(km_camera *c);
void km_rodrigues(const double rvec[3], double R[9]);
void km_rodrigues_inv(const double R[9], double rvec[3]);
/* Camera centre in world coordinates: -R^T t. */
void km_camera_center(const km_camera *c, double C[3]);
/* Set the pose from a rotation matrix and a centre (t = -R C). */
void km_camera_set_pose(km_camera *c, const double R[9], const double C[3]);
/* Project a world point to pixels (distortion applied). Returns the depth
 * in camera coordinates (<= 0: behind the camera, uv still written). */
double km_camera_project(const km_camera *c, const double X[3], double uv[2]);
/* Distort normalized coordinates (x, y) -> (xd, yd). */
void km_distort_normalized(const double dist[5], double x, double y, double *xd, double *yd);
/* Pixel -> undistorted normalized coordinates, by fixed-point iteration
 * (converges for the distortion of ordinary lenses). */
void km_camera_undistort_normalized(const km_camera *c, const double uv[2], double xn[2]);
/* Pixel -> undistorted pixel (same K). */
void km_camera_undistort_pixel(const km_camera *c, const double uv[2], double out[2]);

/* ----------------------------------------------------------- calibration */

typedef struct km_calib {
    int ncams;
    km_camera *cams; /* owned, ncams entries */
} km_calib;

/* Allocate n zeroed cameras (identity pose, names "cam_1".."cam_n").
 * Free with km_calib_free. */
int km_calib_alloc(km_calib *c, int n);
void km_calib_free(km_calib *c);
/* Read / write by extension: .toml (Pose2Sim/anipose), .npz, .json.
 * The reader fills *out (free with km_calib_free); writers are atomic. */
int km_calib_read(const char *path, km_calib *out);
int km_calib_write(const char *path, const km_calib *c);
int km_calib_read_toml(const char *path, km_calib *out);
int km_calib_write_toml(const char *path, const km_calib *c);
/* Parse TOML text (len bytes, need not be NUL-terminated); `srcname`
 * names the source in error messages ("calib.toml:12: ..."). */
int km_calib_parse_toml(const char *text, size_t len, const char *srcname, km_calib *out);
int km_calib_read_npz(const char *path, km_calib *out);
int km_calib_write_npz(const char *path, const km_calib *c);
int km_calib_read_json(const char *path, km_calib *out);
int km_calib_write_json(const char *path, const km_calib *c);

/* --------------------------------------------------------- triangulation */

typedef struct km_tri_opts {
    double min_score;       /* observations below this confidence are ignored (0.3) */
    int min_cameras;        /* fewest cameras kept by rejection (2) */
    double reproj_threshold;/* px: views above it are outliers, removed (15) */
    int refine;             /* Gauss-Newton refinement iterations (0 = off) */
} km_tri_opts;

void km_tri_opts_default(km_tri_opts *o);

/* Prepared cameras for fast triangulation: copies what it needs from
 * `calib` (borrowed for the call only); opts NULL = defaults. *out is
 * owned by the caller: free with km_triangulator_free. Safe to share
 * between threads (read-only after creation). */
typedef struct km_triangulator km_triangulator;
int km_triangulator_create(const km_calib *calib, const km_tri_opts *opts, km_triangulator **out);
void km_triangulator_free(km_triangulator *t);

/* Triangulate one instant: obs is [ncams][nkp][3] (x, y, score) pixels
 * (camera-major). Writes X [nkp][3] (NaN where fewer than min_cameras
 * usable views, or where only two of four or more usable views agree,
 * which is ambiguous), err [nkp] mean reprojection error in undistorted pixels
 * of the kept views (NaN if none), mask [nkp] bit c set when camera c was
 * used. err and mask may be NULL. Buffers are the caller's. */
void km_triangulate_frame(const km_triangulator *t, int nkp, const double *obs,
                          double *X, double *err, uint32_t *mask);

/* Triangulate a whole sequence: views[c] is camera c's [nframes][nkp][3]
 * (borrowed). Output buffers [nframes][nkp][3], [nframes][nkp],
 * [nframes][nkp] (err and mask may be NULL). Threads from `pool` split the
 * frames (NULL: calling thread only). */
int km_triangulate_sequence(const km_triangulator *t, int nframes, int nkp,
                            const double *const *views, double *X, double *err,
                            uint32_t *mask, km_pool *pool);

/* One point from n (2..KM_GEOM_MAX_CAMERAS) normalized (undistorted)
 * observations xn [n][2] with weights w [n] and row-major 3x4 [R|t]
 * matrices Rt[i] (all borrowed): the weighted linear (DLT) solution,
 * reweighted once by 1/depth. Returns 0, or -1 when n is out of range or
 * the system is degenerate. For callers with their own cameras
 * (self-calibration). */
int km_triangulate_normalized(int n, const double *const *Rt, const double *xn,
                              const double *w, double X[3]);

/* ------------------------------------------------------- temporal filters */

/* All filters work in place on a [nframes][nkp][3] sequence with NaN for
 * missing points; each keypoint coordinate is filtered separately. */

/* Linearly fill runs of at most max_gap missing frames that have valid
 * frames on both sides. */
void km_fill_gaps(double *seq, int nframes, int nkp, int max_gap);
/* Zero-phase Butterworth low-pass (forward-backward, order 2 each way,
 * odd-reflection padding) over each run of valid frames. Runs shorter than
 * the padding are left as they are. cutoff_hz must be < fps / 2. */
int km_butterworth_filtfilt(double *seq, int nframes, int nkp, double fps, double cutoff_hz);

/* One-Euro filter (Casiez et al. 2012) for live use: causal, adaptive. */
typedef struct km_oneeuro {
    double min_cutoff, beta, d_cutoff;
    int n;          /* values per update */
    double *x, *dx; /* owned, n each (x NaN until a value is seen) */
} km_oneeuro;
/* Set up a filter for n values (min_cutoff, d_cutoff in Hz; beta >= 0:
 * speed coefficient). Free with km_oneeuro_free. */
int km_oneeuro_init(km_oneeuro *f, int n, double min_cutoff, double beta, double d_cutoff);
/* Filter n values in place taken dt seconds after the previous update;
 * NaN values pass through and do not update the state of that value. */
void km_oneeuro_update(km_oneeuro *f, double *values, double dt);
void km_oneeuro_free(km_oneeuro *f);
/* Convenience: run the One-Euro filter over a whole sequence. */
int km_oneeuro_sequence(double *seq, int nframes, int nkp, double fps, double min_cutoff,
                        double beta);

/* --------------------------------------------- 2D keypoint files (pose) */

/* One camera's 2D keypoints of one person over time (the person with the
 * chosen id, or the highest-scoring one per frame). */
typedef struct km_kp2d {
    char *input;          /* owned, may be NULL */
    int width, height;
    double fps;
    km_skeleton skel;
    int nkp;
    int nframes;
    int *frame_index;     /* owned [nframes] */
    double *timestamp;    /* owned [nframes] */
    double *kp;           /* owned [nframes][nkp][3]: x, y, score (0 = missing) */
} km_kp2d;

#define KM_KP2D_MAX_BYTES ((size_t)1 << 30) /* largest keypoint file read */

/* Allocate a zeroed sequence (scores 0). Free with km_kp2d_free. */
int km_kp2d_alloc(km_kp2d *k, km_skeleton skel, int nframes);
void km_kp2d_free(km_kp2d *k);
/* Read a `kinema pose` JSON file. person_id >= 0 selects that id; -1 the
 * highest-scoring person of each frame. Errors name the file and field. */
int km_kp2d_read(const char *path, int person_id, km_kp2d *out);
/* Write one person per frame (id 0; frames where every score is 0 get an
 * empty persons list). `model` names the producer ("synth"); `kp3d` is an
 * optional [nframes][nkp][3] written as keypoints_3d (NULL: null). */
int km_kp2d_write(const char *path, const km_kp2d *k, const char *model, const double *kp3d);

/* Check that views[0..n) (read from paths[0..n), both borrowed) fit the
 * calibration, file c being camera c: same count, image sizes, skeleton
 * and frame numbers, and no file whose name or `input` names another
 * camera of the calibration. Returns 0 or KM_EINVAL naming the file. */
int km_rig_check(const km_calib *cal, int n, const char *const *paths, const km_kp2d *views);

/* ---------------------------------------------------------------- exports */

typedef enum {
    KM_EXPORT_NPY,
    KM_EXPORT_TRC,
    KM_EXPORT_C3D,
    KM_EXPORT_CSV,
    KM_EXPORT_JSON,
    KM_EXPORT_UNKNOWN,
} km_export_format;

/* From a file name's extension. */
km_export_format km_export_format_of(const char *path);
/* Write a [nframes][nkp][3] sequence in metres (NaN = missing) with
 * keypoint names (borrowed, nkp of them) at fps. TRC and C3D are in
 * millimetres; TRC is y-up for OpenSim ((x, y, z) z-up -> (y, z, x)).
 * Atomic. */
int km_export_3d(const char *path, km_export_format fmt, const double *seq, int nframes,
                 int nkp, const char *const *names, double fps);
/* OpenPose-style 2D JSON: one file per frame in dir, named
 * <prefix>_<frame:012d>_keypoints.json. */
int km_export_openpose(const char *dir, const char *prefix, const km_kp2d *k);

/* ---------------------------------------------------------- synthetic rig */

typedef enum {
    KM_MOTION_WALK,     /* walking around a loop (turning included) */
    KM_MOTION_TURN,     /* walking back and forth with 180 degree turns */
    KM_MOTION_SIT,      /* sit-to-stand repetitions */
    KM_MOTION_WAVE,     /* standing, waving arms */
    KM_MOTION_MIXED,    /* all of the above in turn */
} km_motion;

typedef struct km_synth_opts {
    int ncams;          /* 2..16 */
    int nframes;
    double fps;
    double noise_px;    /* Gaussian sigma */
    double outliers;    /* fraction of observations displaced 20..200 px */
    double missing;     /* fraction of missed detections */
    uint64_t seed;
    km_motion motion;
    km_skeleton skel;
    double height;      /* subject height in metres (0: random 1.50..1.95) */
} km_synth_opts;

void km_synth_opts_default(km_synth_opts *o);
int km_motion_parse(const char *s, km_motion *out);

typedef struct km_synth {
    km_calib calib;     /* true cameras */
    km_kp2d *views;     /* owned [ncams] */
    double *gt;         /* owned [nframes][nkp][3], metres */
    int nframes, nkp;
    km_skeleton skel;
    double height;      /* subject height used */
} km_synth;

/* Generate a deterministic rig for opts (same seed -> same bytes). Free
 * with km_synth_free. */
int km_synth_generate(const km_synth_opts *opts, km_synth *out);
void km_synth_free(km_synth *s);
/* Write DIR/cam_NN.json, DIR/calib.toml, DIR/gt.npy (creates DIR). */
int km_synth_write(const km_synth *s, const char *dir);

/* Deterministic PRNG (xoshiro256**, seeded by splitmix64). */
typedef struct km_rng { uint64_t s[4]; } km_rng;
void km_rng_seed(km_rng *r, uint64_t seed);
uint64_t km_rng_next(km_rng *r);
double km_rng_uniform(km_rng *r);              /* [0, 1) */
double km_rng_gauss(km_rng *r);                /* N(0, 1) */

/* ------------------------------------------------------- self-calibration */

typedef struct km_selfcal_opts {
    double min_score;       /* observations used (0.5) */
    double ransac_px;       /* RANSAC inlier threshold, pixels (4) */
    int ransac_iters;       /* per pair, at most (1000; adaptive stop) */
    double huber_px;        /* Huber loss scale in bundle adjustment (2) */
    int ba_iters;           /* LM iterations (50) */
    double subject_height;  /* metres; 0: use segment or leave unit scale */
    const char *seg_a, *seg_b; /* keypoint names of a segment (borrowed) */
    double seg_length;      /* metres, 0 = unused */
    uint64_t seed;
} km_selfcal_opts;

typedef struct km_selfcal_report {
    int ncams;
    double rms_px[KM_GEOM_MAX_CAMERAS];  /* per camera after BA (inliers) */
    int nobs[KM_GEOM_MAX_CAMERAS];
    double rms_all_px;
    int npoints;
    int ba_iterations;
    double scale;          /* metres per reconstruction unit applied */
    double height_est;     /* estimated subject height (m), 0 if none */
} km_selfcal_report;

void km_selfcal_opts_default(km_selfcal_opts *o);
/* Estimate the extrinsics of every camera of `calib` (intrinsics read,
 * rvec/t overwritten in place) from views[c] ([nframes][nkp][3] pixels,
 * borrowed, the same synchronised frames in every view), all of skeleton
 * `skel` (COCO-17 or BlazePose-33). The result has z up (normal of the
 * floor contacts when the subject walks about, else the body axis while
 * standing), the floor at z = 0 (heels
 * and toes, or ankles), the origin under the mean hip position, x along
 * the first registered camera's view, and metric scale from opts (subject
 * height via eye height, or a segment length); without either the scale is
 * arbitrary (first pair's baseline about 1). opts may be NULL (defaults),
 * report may be NULL. Fails with KM_EFORMAT naming the problem when a
 * camera shares too few keypoints with the others. */
int km_selfcal(km_calib *calib, km_skeleton skel, int nframes, const double *const *views,
               const km_selfcal_opts *opts, km_selfcal_report *report);

/* Similarity (s, R, t) with dst ~ s R src + t from n point pairs
 * (Umeyama); NaN pairs are skipped. Returns 0 or -1 if degenerate. */
int km_similarity_fit(int n, const double *src, const double *dst, double *s, double R[9],
                      double t[3]);

/* Mean per-joint position error (same units as inputs) over the pairs
 * where both are finite; *count gets the number of pairs. */
double km_mpjpe(int n, const double *a, const double *b, int *count);

#ifdef __cplusplus
}
#endif
#endif /* KINEMA_GEOM_H */
