/*
 * cmd_frames.c - `kinema frames FILE --every N -o DIR`: save every Nth frame
 * as DIR/frame_NNNNNN.jpg (or .png), NNNNNN being the frame index.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "kinema/media.h"

typedef struct {
    const char *input, *outdir, *ext;
    long every, quality;
} frames_args;

static int parse_frames_args(int argc, char **argv, frames_args *a)
{
    static const struct option longopts[] = {
        {"every", required_argument, NULL, 'n'},
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {"quality", required_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    *a = (frames_args){NULL, NULL, "jpg", 1, 90};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":n:o:f:q:", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (cli_parse_int(optarg, 1, 1000000, &a->every))
                return cli_usage_error("frames", "--every must be an integer in 1..1000000");
            break;
        case 'o': a->outdir = optarg; break;
        case 'f':
            if (strcmp(optarg, "jpg") && strcmp(optarg, "png"))
                return cli_usage_error("frames", "--format must be jpg or png");
            a->ext = optarg;
            break;
        case 'q':
            if (cli_parse_int(optarg, 1, 100, &a->quality))
                return cli_usage_error("frames", "--quality must be an integer in 1..100");
            break;
        case ':': return cli_usage_error("frames", "option %s needs a value", argv[optind - 1]);
        default: return cli_usage_error("frames", "unknown option %s", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("frames", "%s", optind == argc ? "missing FILE" : "expected one FILE");
    a->input = argv[optind];
    if (!a->outdir)
        return cli_usage_error("frames", "missing -o DIR");
    return KM_EXIT_OK;
}

int cmd_frames(int argc, char **argv)
{
    frames_args a;
    int rc = parse_frames_args(argc, argv, &a);
    if (rc != KM_EXIT_OK)
        return rc;
    if (km_mkdirs(a.outdir) != KM_OK)
        return cli_fail("frames", "cannot create output directory");
    km_reader *r;
    if (km_reader_open(&r, a.input, NULL) != KM_OK)
        return cli_fail("frames", "cannot open input");
    km_progress *bar = km_progress_start("frames", km_reader_info(r)->frames, stderr);
    long written = 0;
    km_frame *f;
    while ((rc = km_reader_read(r, &f)) == KM_OK) {
        if (f->index % a.every == 0) {
            char path[4096];
            snprintf(path, sizeof path, "%s/frame_%06lld.%s", a.outdir, (long long)f->index, a.ext);
            rc = km_image_save(path, f->img, (int)a.quality);
            if (rc != KM_OK) {
                km_frame_unref(f);
                break;
            }
            written++;
        }
        km_progress_update(bar, f->index + 1);
        km_frame_unref(f);
    }
    km_progress_finish(bar);
    km_reader_close(r);
    if (rc != KM_EEOF)
        return cli_fail("frames", "failed");
    fprintf(stderr, "kinema frames: wrote %ld frames to %s\n", written, a.outdir);
    return KM_EXIT_OK;
}
