/*
 * cmd_filter.c - `kinema filter IN OUT --pipeline P`: run a vision filter
 * pipeline (see km_pipeline_parse) over an image or every frame of a
 * video. Images are read and written with km_image_load/km_image_save,
 * videos with km_reader/km_writer; OUT appears only when complete. The
 * pipeline is validated before the input is opened.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "kinema/media.h"
#include "kinema/vision.h"

typedef struct {
    const char *input, *output, *pipeline;
    long threads, quality, crf, max_frames;
} filter_args;

static int parse_filter_args(int argc, char **argv, filter_args *a)
{
    static const struct option longopts[] = {
        {"pipeline", required_argument, NULL, 'p'},
        {"threads", required_argument, NULL, 't'},
        {"quality", required_argument, NULL, 'q'},
        {"crf", required_argument, NULL, 'c'},
        {"max-frames", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    *a = (filter_args){NULL, NULL, NULL, 0, 90, -1, -1};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":p:t:q:c:m:", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': a->pipeline = optarg; break;
        case 't':
            if (cli_parse_int(optarg, 0, 256, &a->threads))
                return cli_usage_error("filter", "--threads must be an integer in 0..256 (0 = all cores)");
            break;
        case 'q':
            if (cli_parse_int(optarg, 1, 100, &a->quality))
                return cli_usage_error("filter", "--quality must be an integer in 1..100");
            break;
        case 'c':
            if (cli_parse_int(optarg, 0, 63, &a->crf))
                return cli_usage_error("filter", "--crf must be an integer in 0..63");
            break;
        case 'm':
            if (cli_parse_int(optarg, 1, 1L << 40, &a->max_frames))
                return cli_usage_error("filter", "--max-frames must be a positive integer");
            break;
        case ':': return cli_usage_error("filter", "option %s needs a value", argv[optind - 1]);
        default: return cli_usage_error("filter", "unknown option %s", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return cli_usage_error("filter", "expected IN and OUT");
    if (!a->pipeline)
        return cli_usage_error("filter", "--pipeline is required, e.g. --pipeline 'gray|gaussian:7:1.5|canny:100:200'");
    a->input = argv[optind];
    a->output = argv[optind + 1];
    return KM_EXIT_OK;
}

static int filter_image(const filter_args *a, km_pipeline *p, km_pool *pool)
{
    km_image *in = NULL, *out = NULL;
    if (km_image_load(a->input, KM_PIX_RGB24, &in) != KM_OK)
        return cli_fail("filter", "cannot read input image");
    int rc = km_pipeline_run(p, in, &out, pool);
    km_image_free(in);
    if (rc != KM_OK)
        return cli_fail("filter", "pipeline failed");
    rc = km_image_save(a->output, out, (int)a->quality);
    km_image_free(out);
    if (rc != KM_OK)
        return cli_fail("filter", "cannot write output image");
    return KM_EXIT_OK;
}

/* Filter every frame of r into a writer opened on the first output frame
 * (its size/format decides the writer's). */
static int filter_frames(const filter_args *a, km_pipeline *p, km_pool *pool, km_reader *r)
{
    const km_video_info *info = km_reader_info(r);
    km_writer_opts wopts = KM_WRITER_OPTS_DEFAULT;
    wopts.fps = info->fps > 0 ? info->fps : 25.0;
    wopts.crf = (int)a->crf;
    km_writer *w = NULL;
    int64_t total = info->frames;
    if (a->max_frames > 0 && (total < 0 || total > a->max_frames))
        total = a->max_frames;
    km_progress *bar = km_progress_start("filter", total, stderr);
    km_frame *f;
    int rc;
    int64_t n = 0;
    while ((a->max_frames <= 0 || n < a->max_frames) && (rc = km_reader_read(r, &f)) == KM_OK) {
        km_image *out = NULL;
        rc = km_pipeline_run(p, f->img, &out, pool);
        km_frame_unref(f);
        if (rc == KM_OK && !w)
            rc = km_writer_open(&w, a->output, out->width, out->height, &wopts);
        if (rc == KM_OK)
            rc = km_writer_write(w, out);
        km_image_free(out);
        if (rc != KM_OK)
            break;
        km_progress_update(bar, ++n);
    }
    if (a->max_frames > 0 && n >= a->max_frames)
        rc = KM_EEOF;
    km_progress_finish(bar);
    if (rc != KM_EEOF) {
        km_writer_abort(w);
        return cli_fail("filter", "failed");
    }
    if (!w) {
        km_seterr(KM_EFORMAT, "%s has no frames", a->input);
        return cli_fail("filter", "nothing to write");
    }
    if (km_writer_close(w) != KM_OK)
        return cli_fail("filter", "cannot finish output");
    return KM_EXIT_OK;
}

int cmd_filter(int argc, char **argv)
{
    filter_args a;
    int rc = parse_filter_args(argc, argv, &a);
    if (rc != KM_EXIT_OK)
        return rc;
    km_pipeline *p = NULL;
    if (km_pipeline_parse(a.pipeline, &p) != KM_OK)
        return cli_usage_error("filter", "%s", km_errmsg());
    if (km_is_image_path(a.input) != km_is_image_path(a.output)) {
        km_pipeline_free(p);
        return cli_usage_error("filter", "IN and OUT must both be images or both be videos");
    }
    /* N threads = the caller + N - 1 pool workers; 0 = one per core */
    long nthreads = a.threads > 0 ? a.threads : sysconf(_SC_NPROCESSORS_ONLN);
    km_pool *pool = NULL;
    if (nthreads > 1 && !(pool = km_pool_create((int)nthreads - 1))) {
        km_pipeline_free(p);
        return cli_fail("filter", "cannot start threads");
    }
    if (km_is_image_path(a.input)) {
        rc = filter_image(&a, p, pool);
    } else {
        km_reader *r;
        if (km_reader_open(&r, a.input, NULL) != KM_OK) {
            rc = cli_fail("filter", "cannot open input");
        } else {
            rc = filter_frames(&a, p, pool, r);
            km_reader_close(r);
        }
    }
    km_pool_destroy(pool);
    km_pipeline_free(p);
    return rc;
}
