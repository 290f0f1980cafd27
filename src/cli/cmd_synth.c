/*
 * cmd_synth.c - `kinema synth`: write a synthetic multi-view rig (per-camera
 * 2D keypoint JSON, true calibration TOML, ground-truth 3D .npy).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "kinema/geom.h"

static int parse_synth_flags(int argc, char **argv, km_synth_opts *o, const char **dir)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            return cli_usage_error("synth", "missing value for %s", a);
        const char *v = argv[++i];
        long n;
        double d;
        if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            *dir = v;
        } else if (strcmp(a, "--cameras") == 0) {
            if (cli_parse_int(v, 2, 16, &n))
                return cli_usage_error("synth", "--cameras must be an integer 2..16");
            o->ncams = (int)n;
        } else if (strcmp(a, "--frames") == 0) {
            if (cli_parse_int(v, 1, 1000000, &n))
                return cli_usage_error("synth", "--frames must be an integer 1..1000000");
            o->nframes = (int)n;
        } else if (strcmp(a, "--fps") == 0) {
            if (cli_parse_double(v, 1, 1000, &d))
                return cli_usage_error("synth", "--fps must be a number 1..1000");
            o->fps = d;
        } else if (strcmp(a, "--noise") == 0) {
            if (cli_parse_double(v, 0, 100, &d))
                return cli_usage_error("synth", "--noise must be 0..100 pixels");
            o->noise_px = d;
        } else if (strcmp(a, "--outliers") == 0 || strcmp(a, "--missing") == 0) {
            if (cli_parse_double(v, 0, 1, &d))
                return cli_usage_error("synth", "%s must be a fraction 0..1", a);
            *(strcmp(a, "--outliers") == 0 ? &o->outliers : &o->missing) = d;
        } else if (strcmp(a, "--seed") == 0) {
            if (cli_parse_int(v, 0, 2147483647L, &n))
                return cli_usage_error("synth", "--seed must be an integer >= 0");
            o->seed = (uint64_t)n;
        } else if (strcmp(a, "--height") == 0) {
            if (cli_parse_double(v, 1.0, 2.5, &d))
                return cli_usage_error("synth", "--height must be 1.0..2.5 metres");
            o->height = d;
        } else if (strcmp(a, "--motion") == 0) {
            if (km_motion_parse(v, &o->motion))
                return cli_usage_error("synth", "%s", km_errmsg());
        } else if (strcmp(a, "--skeleton") == 0) {
            o->skel = km_skeleton_parse(v);
            if (o->skel == KM_SKEL_NONE)
                return cli_usage_error("synth", "--skeleton must be coco17 or blazepose33");
        } else {
            return cli_usage_error("synth", "unknown option '%s'", a);
        }
    }
    if (!*dir)
        return cli_usage_error("synth", "-o DIR is required");
    return 0;
}

int cmd_synth(int argc, char **argv)
{
    km_synth_opts o;
    km_synth_opts_default(&o);
    const char *dir = NULL;
    int rc = parse_synth_flags(argc, argv, &o, &dir);
    if (rc)
        return rc;
    km_synth s;
    if (km_synth_generate(&o, &s))
        return cli_fail("synth", "generation failed");
    rc = km_synth_write(&s, dir);
    if (rc == 0) {
        printf("{\"dir\":");
        km_fput_json_string(stdout, dir);
        printf(",\"cameras\":%d,\"frames\":%d,\"keypoints\":%d,\"subject_height_m\":%.4f}\n",
               s.calib.ncams, s.nframes, s.nkp, s.height);
    }
    km_synth_free(&s);
    return rc ? cli_fail("synth", "writing the rig failed") : KM_EXIT_OK;
}
