/*
 * cmd_calibrate.c - `kinema calibrate`: camera extrinsics from people's 2D
 * keypoints (intrinsics given), written as TOML / .npz / JSON, with the
 * per-camera reprojection RMS printed as JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kinema/geom.h"

#define CMD "calibrate"

typedef struct {
    const char *intr, *out;
    const char *files[KM_GEOM_MAX_CAMERAS];
    int nfiles;
    long person;
    km_selfcal_opts opt;
    char seg_a[64], seg_b[64];
} cal_args;

static int parse_segment(const char *v, cal_args *a)
{
    const char *c1 = strchr(v, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1 || !c2 || c1 - v >= 64 || c2 - c1 - 1 >= 64)
        return -1;
    memcpy(a->seg_a, v, (size_t)(c1 - v));
    a->seg_a[c1 - v] = '\0';
    memcpy(a->seg_b, c1 + 1, (size_t)(c2 - c1 - 1));
    a->seg_b[c2 - c1 - 1] = '\0';
    if (cli_parse_double(c2 + 1, 0.01, 10, &a->opt.seg_length))
        return -1;
    a->opt.seg_a = a->seg_a;
    a->opt.seg_b = a->seg_b;
    return 0;
}

static int parse_args(int argc, char **argv, cal_args *a)
{
    memset(a, 0, sizeof *a);
    km_selfcal_opts_default(&a->opt);
    a->person = -1;
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
        if (strcmp(s, "--intrinsics") == 0)
            a->intr = v;
        else if (strcmp(s, "-o") == 0 || strcmp(s, "--output") == 0)
            a->out = v;
        else if (strcmp(s, "--subject-height") == 0) {
            if (cli_parse_double(v, 0.5, 2.5, &a->opt.subject_height))
                return cli_usage_error(CMD, "--subject-height must be 0.5..2.5 metres");
        } else if (strcmp(s, "--segment") == 0) {
            if (parse_segment(v, a))
                return cli_usage_error(CMD, "--segment must be NAME_A:NAME_B:METRES");
        } else if (strcmp(s, "--min-score") == 0) {
            if (cli_parse_double(v, 0, 1, &a->opt.min_score))
                return cli_usage_error(CMD, "--min-score must be 0..1");
        } else if (strcmp(s, "--ransac-px") == 0) {
            if (cli_parse_double(v, 0.1, 100, &a->opt.ransac_px))
                return cli_usage_error(CMD, "--ransac-px must be 0.1..100");
        } else if (strcmp(s, "--huber-px") == 0) {
            if (cli_parse_double(v, 0.1, 100, &a->opt.huber_px))
                return cli_usage_error(CMD, "--huber-px must be 0.1..100");
        } else if (strcmp(s, "--seed") == 0) {
            if (cli_parse_int(v, 0, 2147483647L, &n))
                return cli_usage_error(CMD, "--seed must be an integer >= 0");
            a->opt.seed = (uint64_t)n;
        } else if (strcmp(s, "--person") == 0) {
            if (cli_parse_int(v, -1, 1000000, &a->person))
                return cli_usage_error(CMD, "--person must be an id >= 0 (or -1: best)");
        } else
            return cli_usage_error(CMD, "unknown option '%s'", s);
    }
    if (!a->intr)
        return cli_usage_error(CMD, "--intrinsics CALIB is required");
    if (!a->out)
        return cli_usage_error(CMD, "-o CALIB_OUT is required");
    if (a->nfiles < 2)
        return cli_usage_error(CMD, "give at least two camera keypoint files");
    return 0;
}


static void print_report(const cal_args *a, const km_calib *cal, const km_selfcal_report *r)
{
    printf("{\"output\":");
    km_fput_json_string(stdout, a->out);
    printf(",\"cameras\":[");
    for (int c = 0; c < r->ncams; c++) {
        double C[3];
        km_camera_center(&cal->cams[c], C);
        printf("%s{\"name\":", c ? "," : "");
        km_fput_json_string(stdout, cal->cams[c].name);
        printf(",\"rms_px\":%.4f,\"observations\":%d,\"center\":[%.4f,%.4f,%.4f]}",
               r->rms_px[c], r->nobs[c], C[0], C[1], C[2]);
    }
    int metric = a->opt.subject_height > 0 || a->opt.seg_length > 0;
    printf("],\"rms_px\":%.4f,\"points\":%d,\"ba_iterations\":%d,\"metric\":%s,"
           "\"scale\":%.6g,\"subject_height_m\":%.4f}\n",
           r->rms_all_px, r->npoints, r->ba_iterations, metric ? "true" : "false", r->scale,
           r->height_est);
    if (!metric)
        fprintf(stderr, "kinema %s: no --subject-height or --segment: the scale of %s is "
                        "arbitrary\n",
                CMD, a->out);
}

int cmd_calibrate(int argc, char **argv)
{
    cal_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    km_calib cal;
    km_kp2d v[KM_GEOM_MAX_CAMERAS];
    rc = cli_rig_read(CMD, a.intr, "cannot read the intrinsics", a.nfiles, a.files,
                      (int)a.person, &cal, v);
    if (rc)
        return rc;
    const double *views[KM_GEOM_MAX_CAMERAS];
    for (int c = 0; c < a.nfiles; c++)
        views[c] = v[c].kp;
    km_selfcal_report rep;
    if (km_selfcal(&cal, v[0].skel, v[0].nframes, views, &a.opt, &rep))
        rc = cli_fail(CMD, "self-calibration failed");
    else if (km_calib_write(a.out, &cal))
        rc = cli_fail(CMD, "cannot write the calibration");
    else
        print_report(&a, &cal, &rep);
    cli_rig_free(&cal, a.nfiles, v);
    return rc;
}
