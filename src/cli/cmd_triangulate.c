/*
 * cmd_triangulate.c - `kinema triangulate`: per-camera 2D keypoint files +
 * calibration -> filtered 3D keypoints in .npy/.trc/.c3d/.csv/.json.
 * --diagnostics OUT.npz also writes the per-keypoint reprojection error
 * ("reproj_px", float64 [frames, keypoints]) and the cameras used
 * ("camera_mask", int32 bit mask [frames, keypoints]).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kinema/geom.h"

#define CMD "triangulate"

typedef struct {
    const char *calib, *out, *filter, *diag;
    const char *files[KM_GEOM_MAX_CAMERAS];
    int nfiles;
    km_tri_opts tri;
    long person, fill_gaps, threads;
} tri_args;

static int parse_args(int argc, char **argv, tri_args *a)
{
    memset(a, 0, sizeof *a);
    km_tri_opts_default(&a->tri);
    a->person = -1;
    a->fill_gaps = 10;
    a->threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (s[0] != '-' || s[1] == '\0') {
            if (a->nfiles >= KM_GEOM_MAX_CAMERAS)
                return cli_usage_error(CMD, "at most %d camera files", KM_GEOM_MAX_CAMERAS);
            a->files[a->nfiles++] = s;
            continue;
        }
        if (i + 1 >= argc)
            return cli_usage_error(CMD, "missing value for %s", s);
        const char *v = argv[++i];
        long n;
        double d;
        if (strcmp(s, "--calib") == 0)
            a->calib = v;
        else if (strcmp(s, "-o") == 0 || strcmp(s, "--output") == 0)
            a->out = v;
        else if (strcmp(s, "--filter") == 0)
            a->filter = v;
        else if (strcmp(s, "--diagnostics") == 0)
            a->diag = v;
        else if (strcmp(s, "--min-cameras") == 0) {
            if (cli_parse_int(v, 2, KM_GEOM_MAX_CAMERAS, &n))
                return cli_usage_error(CMD, "--min-cameras must be 2..%d", KM_GEOM_MAX_CAMERAS);
            a->tri.min_cameras = (int)n;
        } else if (strcmp(s, "--reproj-threshold") == 0) {
            if (cli_parse_double(v, 0.01, 1e6, &d))
                return cli_usage_error(CMD, "--reproj-threshold must be a positive number");
            a->tri.reproj_threshold = d;
        } else if (strcmp(s, "--min-score") == 0) {
            if (cli_parse_double(v, 0, 1, &d))
                return cli_usage_error(CMD, "--min-score must be 0..1");
            a->tri.min_score = d;
        } else if (strcmp(s, "--refine") == 0) {
            if (cli_parse_int(v, 0, 100, &n))
                return cli_usage_error(CMD, "--refine must be 0..100 iterations");
            a->tri.refine = (int)n;
        } else if (strcmp(s, "--fill-gaps") == 0) {
            if (cli_parse_int(v, 0, 1000, &a->fill_gaps))
                return cli_usage_error(CMD, "--fill-gaps must be 0..1000 frames");
        } else if (strcmp(s, "--person") == 0) {
            if (cli_parse_int(v, -1, 1000000, &a->person))
                return cli_usage_error(CMD, "--person must be an id >= 0 (or -1: best)");
        } else if (strcmp(s, "--threads") == 0) {
            if (cli_parse_int(v, 0, 256, &a->threads))
                return cli_usage_error(CMD, "--threads must be 0..256 (0: all cores)");
        } else
            return cli_usage_error(CMD, "unknown option '%s'", s);
    }
    if (!a->calib)
        return cli_usage_error(CMD, "--calib CALIB is required");
    if (!a->out)
        return cli_usage_error(CMD, "-o OUT is required");
    if (a->nfiles < 2)
        return cli_usage_error(CMD, "give at least two camera keypoint files");
    if (a->tri.min_cameras > a->nfiles)
        return cli_usage_error(CMD, "--min-cameras %d exceeds the %d camera files",
                               a->tri.min_cameras, a->nfiles);
    if (km_export_format_of(a->out) == KM_EXPORT_UNKNOWN)
        return cli_usage_error(CMD, "-o must end in .npy, .trc, .c3d, .csv or .json");
    if (a->filter && strncmp(a->filter, "butterworth:", 12) != 0 &&
        strncmp(a->filter, "oneeuro", 7) != 0 && strcmp(a->filter, "none") != 0)
        return cli_usage_error(CMD, "--filter must be butterworth:HZ, oneeuro[:MINCUT:BETA] "
                                    "or none");
    return 0;
}


static int apply_filter(const char *spec, double *X, int nframes, int nkp, double fps)
{
    if (!spec || strcmp(spec, "none") == 0)
        return 0;
    if (strncmp(spec, "butterworth:", 12) == 0) {
        double hz;
        if (cli_parse_double(spec + 12, 0.01, 1e4, &hz))
            return km_seterr(KM_EINVAL, "--filter butterworth:HZ needs a cutoff in Hz");
        return km_butterworth_filtfilt(X, nframes, nkp, fps, hz);
    }
    double mincut = 1.0, beta = 0.5;
    if (spec[7] == ':' && sscanf(spec + 8, "%lf:%lf", &mincut, &beta) < 1)
        return km_seterr(KM_EINVAL, "--filter oneeuro:MINCUTOFF:BETA needs numbers");
    return km_oneeuro_sequence(X, nframes, nkp, fps, mincut, beta);
}

/* Per-keypoint reprojection error (px, NaN where not triangulated) and
 * camera mask (bit c = camera c used), before gap filling and filtering. */
static int write_diagnostics(const char *path, int F, int K, const double *err,
                             const uint32_t *mask)
{
    km_array arr[2];
    memset(arr, 0, sizeof arr);
    int64_t shape[2] = {F, K};
    int rc = km_array_alloc(&arr[0], KM_DT_F64, 2, shape);
    if (!rc)
        rc = km_array_alloc(&arr[1], KM_DT_I32, 2, shape);
    if (!rc) {
        size_t n = (size_t)F * K;
        memcpy(arr[0].data, err, n * sizeof *err);
        for (size_t i = 0; i < n; i++)
            ((int32_t *)arr[1].data)[i] = (int32_t)mask[i];
        const char *names[2] = {"reproj_px", "camera_mask"};
        rc = km_npz_write(path, 2, names, arr);
    }
    km_array_free(&arr[0]);
    km_array_free(&arr[1]);
    return rc;
}

static int run(const tri_args *a, const km_calib *cal, km_kp2d *v)
{
    int F = v[0].nframes, K = v[0].nkp;
    size_t n = (size_t)F * K;
    double *X = malloc((n ? n : 1) * 3 * sizeof *X), *err = malloc((n ? n : 1) * sizeof *err);
    uint32_t *mask = malloc((n ? n : 1) * sizeof *mask);
    const double *views[KM_GEOM_MAX_CAMERAS];
    km_triangulator *t = NULL;
    km_pool *pool = NULL;
    int rc = X && err && mask ? 0 : km_seterr(KM_ENOMEM, "out of memory");
    if (!rc)
        rc = km_triangulator_create(cal, &a->tri, &t);
    if (!rc && a->threads != 1 && !(pool = km_pool_create((int)a->threads)))
        rc = KM_ENOMEM;
    for (int c = 0; c < a->nfiles; c++)
        views[c] = v[c].kp;
    if (!rc)
        rc = km_triangulate_sequence(t, F, K, views, X, err, mask, pool);
    if (!rc && a->diag)
        rc = write_diagnostics(a->diag, F, K, err, mask);
    double esum = 0;
    size_t valid = 0;
    for (size_t i = 0; !rc && i < n; i++)
        if (isfinite(X[3 * i]))
            esum += err[i], valid++;
    if (!rc)
        km_fill_gaps(X, F, K, (int)a->fill_gaps);
    /* Stills (fps 0, as `kinema pose` writes for an image) have no time
     * axis: filters need one; exports get a nominal 1 frame per second. */
    double fps = v[0].fps;
    if (!rc && !(fps > 0) && a->filter && strcmp(a->filter, "none") != 0)
        rc = km_seterr(KM_EINVAL, "--filter needs a frame rate, but the inputs are stills (fps 0)");
    if (!rc)
        rc = apply_filter(a->filter, X, F, K, fps);
    const char *names[KM_GEOM_MAX_KEYPOINTS];
    for (int k = 0; k < K; k++)
        names[k] = km_skeleton_name(v[0].skel, k);
    if (!rc)
        rc = km_export_3d(a->out, km_export_format_of(a->out), X, F, K, names, fps > 0 ? fps : 1.0);
    if (!rc) {
        printf("{\"output\":");
        km_fput_json_string(stdout, a->out);
        printf(",\"frames\":%d,\"keypoints\":%d,\"cameras\":%d,"
               "\"triangulated\":%.4f,\"mean_reproj_px\":%.4f}\n",
               F, K, a->nfiles, n ? (double)valid / n : 0.0,
               valid ? esum / valid : 0.0);
    }
    km_pool_destroy(pool);
    km_triangulator_free(t);
    free(X);
    free(err);
    free(mask);
    return rc ? cli_fail(CMD, "triangulation failed") : KM_EXIT_OK;
}

int cmd_triangulate(int argc, char **argv)
{
    tri_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    km_calib cal;
    km_kp2d v[KM_GEOM_MAX_CAMERAS];
    rc = cli_rig_read(CMD, a.calib, "cannot read the calibration", a.nfiles, a.files,
                      (int)a.person, &cal, v);
    if (rc)
        return rc;
    rc = run(&a, &cal, v);
    cli_rig_free(&cal, a.nfiles, v);
    return rc;
}
