/*
 * cmd_transcode.c - `kinema transcode IN OUT`: decode IN and re-encode it as
 * H.264 (.mp4/.mkv), VP9 (.webm) or an animated GIF. OUT appears only when
 * the whole file has been written.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "kinema/media.h"

typedef struct {
    const char *input, *output, *codec;
    long crf, threads;
} transcode_args;

static int parse_transcode_args(int argc, char **argv, transcode_args *a)
{
    static const struct option longopts[] = {
        {"codec", required_argument, NULL, 'c'},
        {"crf", required_argument, NULL, 'q'},
        {"threads", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    *a = (transcode_args){NULL, NULL, NULL, -1, 1};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:q:t:", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (strcmp(optarg, "h264") && strcmp(optarg, "vp9") && strcmp(optarg, "gif"))
                return cli_usage_error("transcode", "--codec must be h264, vp9 or gif");
            a->codec = optarg;
            break;
        case 'q':
            if (cli_parse_int(optarg, 0, 63, &a->crf))
                return cli_usage_error("transcode", "--crf must be an integer in 0..63");
            break;
        case 't':
            if (cli_parse_int(optarg, 1, 64, &a->threads))
                return cli_usage_error("transcode", "--threads must be an integer in 1..64");
            break;
        case ':': return cli_usage_error("transcode", "option %s needs a value", argv[optind - 1]);
        default: return cli_usage_error("transcode", "unknown option %s", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return cli_usage_error("transcode", "expected IN and OUT");
    a->input = argv[optind];
    a->output = argv[optind + 1];
    return KM_EXIT_OK;
}

/* Copy every frame of r into w with a progress bar; KM_OK at the end. */
static int copy_frames(km_reader *r, km_writer *w)
{
    const km_video_info *info = km_reader_info(r);
    km_progress *bar = km_progress_start("transcode", info->frames, stderr);
    km_frame *f;
    int rc;
    while ((rc = km_reader_read(r, &f)) == KM_OK) {
        rc = km_writer_write(w, f->img);
        km_progress_update(bar, f->index + 1);
        km_frame_unref(f);
        if (rc != KM_OK)
            break;
    }
    km_progress_finish(bar);
    return rc == KM_EEOF ? KM_OK : rc;
}

int cmd_transcode(int argc, char **argv)
{
    transcode_args a;
    int rc = parse_transcode_args(argc, argv, &a);
    if (rc != KM_EXIT_OK)
        return rc;
    km_reader_opts ropts = KM_READER_OPTS_DEFAULT;
    ropts.threads = (int)a.threads;
    km_reader *r;
    if (km_reader_open(&r, a.input, &ropts) != KM_OK)
        return cli_fail("transcode", "cannot open input");
    const km_video_info *info = km_reader_info(r);
    km_writer_opts wopts = KM_WRITER_OPTS_DEFAULT;
    wopts.codec = a.codec;
    wopts.crf = (int)a.crf;
    wopts.fps = info->fps > 0 ? info->fps : 25.0;
    wopts.threads = (int)a.threads;
    km_writer *w;
    if (km_writer_open(&w, a.output, info->width, info->height, &wopts) != KM_OK) {
        km_reader_close(r);
        return cli_fail("transcode", "cannot open output");
    }
    rc = copy_frames(r, w);
    km_reader_close(r);
    if (rc != KM_OK) {
        km_writer_abort(w);
        return cli_fail("transcode", "failed");
    }
    if (km_writer_close(w) != KM_OK)
        return cli_fail("transcode", "cannot finish output");
    return KM_EXIT_OK;
}
