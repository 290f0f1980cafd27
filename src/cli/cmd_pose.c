/*
 * cmd_pose.c - `kinema pose INPUT`: keypoints of the people in an image or
 * video, from one model or an ensemble, as JSON, CSV or .npy, with an
 * optional skeleton overlay. Flag parsing and glue only: the work is in
 * src/pose (pipeline, writer, overlay).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kinema/media.h"
#include "kinema/pose.h"

#define POSE_MAX_MODELS 8

typedef struct {
    const char *input, *output, *overlay, *models_dir;
    km_pose_out_fmt fmt;
    long threads, max_frames;
    int precision;
    km_pose_kind kinds[POSE_MAX_MODELS];
    const char *names[POSE_MAX_MODELS];
    float weights[POSE_MAX_MODELS];
    int nkinds, nweights;
    double kp_threshold;
    int want33;                  /* --keypoints blazepose33 */
} pose_args;

static int add_kind(pose_args *a, km_pose_kind k)
{
    for (int i = 0; i < a->nkinds; i++)
        if (a->kinds[i] == k)
            return 0;
    if (a->nkinds >= POSE_MAX_MODELS)
        return -1;
    a->kinds[a->nkinds] = k;
    a->names[a->nkinds++] = km_pose_kind_name(k);
    return 0;
}

static int parse_models(pose_args *a, const char *list)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    a->nkinds = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        km_pose_kind k;
        if (strcmp(tok, "ensemble") == 0) {
            add_kind(a, KM_POSE_BLAZEPOSE_FULL);
            add_kind(a, KM_POSE_MOVENET_THUNDER);
            continue;
        }
        if (km_pose_kind_parse(tok, &k) || add_kind(a, k))
            return cli_usage_error("pose", "%s", km_errmsg()[0] ? km_errmsg() : "too many models");
    }
    if (a->nkinds == 0)
        return cli_usage_error("pose", "--model needs at least one name");
    return KM_EXIT_OK;
}

static int parse_weights(pose_args *a, const char *list)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    a->nweights = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        double v;
        if (a->nweights >= POSE_MAX_MODELS || cli_parse_double(tok, 0.0, 1000.0, &v))
            return cli_usage_error("pose", "--weights must be up to %d numbers in 0..1000", POSE_MAX_MODELS);
        a->weights[a->nweights++] = (float)v;
    }
    return KM_EXIT_OK;
}

static int parse_value(pose_args *a, int c, const char *v)
{
    switch (c) {
    case 'm': return parse_models(a, v);
    case 'w': return parse_weights(a, v);
    case 't':
        if (cli_parse_int(v, 1, 256, &a->threads))
            return cli_usage_error("pose", "--threads must be an integer in 1..256");
        return KM_EXIT_OK;
    case 'n':
        if (cli_parse_int(v, 1, 100000000, &a->max_frames))
            return cli_usage_error("pose", "--max-frames must be a positive integer");
        return KM_EXIT_OK;
    case 'k':
        if (cli_parse_double(v, 0.0, 1.0, &a->kp_threshold))
            return cli_usage_error("pose", "--kp-threshold must be in 0..1");
        return KM_EXIT_OK;
    case 'f':
        if (strcmp(v, "json") == 0) a->fmt = KM_POSE_OUT_JSON;
        else if (strcmp(v, "csv") == 0) a->fmt = KM_POSE_OUT_CSV;
        else if (strcmp(v, "npy") == 0) a->fmt = KM_POSE_OUT_NPY;
        else return cli_usage_error("pose", "--format must be json, npy or csv");
        return KM_EXIT_OK;
    case 'p':
        if (strcmp(v, "auto") == 0) a->precision = 0;
        else if (strcmp(v, "fp32") == 0) a->precision = 1;
        else if (strcmp(v, "bf16") == 0) a->precision = 2;
        else return cli_usage_error("pose", "--precision must be fp32, bf16 or auto");
        return KM_EXIT_OK;
    case 'K':
        if (strcmp(v, "coco17") && strcmp(v, "blazepose33"))
            return cli_usage_error("pose", "--keypoints must be coco17 or blazepose33");
        a->want33 = strcmp(v, "blazepose33") == 0;
        return KM_EXIT_OK;
    case 'o': a->output = v; return KM_EXIT_OK;
    case 'O': a->overlay = v; return KM_EXIT_OK;
    case 'd': a->models_dir = v; return KM_EXIT_OK;
    default: return KM_EXIT_USAGE;
    }
}

static int parse_pose_args(int argc, char **argv, pose_args *a)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},   {"threads", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'f'},  {"output", required_argument, NULL, 'o'},
        {"overlay", required_argument, NULL, 'O'}, {"models-dir", required_argument, NULL, 'd'},
        {"max-frames", required_argument, NULL, 'n'}, {"precision", required_argument, NULL, 'p'},
        {"weights", required_argument, NULL, 'w'}, {"kp-threshold", required_argument, NULL, 'k'},
        {"keypoints", required_argument, NULL, 'K'}, {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->kp_threshold = 0.3;
    const char *env = getenv("KINEMA_MODELS");
    a->models_dir = env && env[0] ? env : "models";
    add_kind(a, KM_POSE_BLAZEPOSE_FULL);
    add_kind(a, KM_POSE_MOVENET_THUNDER);
    int c, rc;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:t:f:o:", longopts, NULL)) != -1) {
        if (c == ':')
            return cli_usage_error("pose", "option %s needs a value", argv[optind - 1]);
        if (c == '?')
            return cli_usage_error("pose", "unknown option %s", argv[optind - 1]);
        if ((rc = parse_value(a, c, optarg)) != KM_EXIT_OK)
            return rc;
    }
    if (optind != argc - 1)
        return cli_usage_error("pose", "%s", optind == argc ? "missing INPUT" : "expected one INPUT");
    a->input = argv[optind];
    if (a->nweights && a->nweights != a->nkinds)
        return cli_usage_error("pose", "--weights has %d numbers for %d models", a->nweights, a->nkinds);
    int any33 = 0;
    for (int i = 0; i < a->nkinds; i++)
        any33 |= km_pose_kind_format(a->kinds[i]) == KM_KP_BLAZE33;
    if (a->want33 && !any33)
        return cli_usage_error("pose", "--keypoints blazepose33 needs a BlazePose model");
    return KM_EXIT_OK;
}

/* ------------------------------------------------------------- running */

typedef struct {
    const pose_args *a;
    km_pose_pipeline *pipe;
    km_pose_writer *out;
    km_writer *video;        /* overlay video, or NULL */
    int still;               /* input is a still image */
    float draw_min;
} pose_run;

static int is_still_overlay(const char *path)
{
    return km_is_image_path(path);
}

static int emit(pose_run *r, km_frame *const *frames, int n, km_pose_result *res)
{
    for (int i = 0; i < n; i++) {
        int rc = km_pose_writer_frame(r->out, frames[i]->index, frames[i]->time_s, &res[i]);
        if (rc)
            return rc;
        if (!r->a->overlay)
            continue;
        km_image *canvas = km_image_clone(frames[i]->img);
        if (!canvas)
            return km_seterr(KM_ENOMEM, "overlay: out of memory");
        km_pose_draw(canvas, &res[i], r->draw_min);
        if (r->still)
            rc = km_image_save(r->a->overlay, canvas, 92);
        else
            rc = km_writer_write(r->video, canvas);
        km_image_free(canvas);
        if (rc)
            return rc;
    }
    return 0;
}

typedef struct {
    km_frame *f[32];
    const km_image *img[32];
    int n;
} batch;

/* Read up to `cap` frames into b (the still image first, if any). */
static int read_batch(pose_run *r, km_reader *rd, km_frame **still, int64_t *nread, int cap,
                      batch *b)
{
    b->n = 0;
    if (*still) {
        b->img[0] = (*still)->img;
        b->f[b->n++] = *still;
        *still = NULL;
        return 0;
    }
    while (rd && b->n < cap && !(r->a->max_frames && *nread >= r->a->max_frames)) {
        int rc = km_reader_read(rd, &b->f[b->n]);
        if (rc == KM_EEOF)
            break;
        if (rc)
            return rc;
        b->img[b->n] = b->f[b->n]->img;
        b->n++;
        (*nread)++;
    }
    return 0;
}

static void drop_batch(batch *b)
{
    for (int i = 0; i < b->n; i++)
        km_frame_unref(b->f[i]);
    b->n = 0;
}

/* Read frames in batches and run the pipeline on them: while one batch is
 * in the pool, the next is decoded and the previous one written out. */
static int run_video(pose_run *r, km_reader *rd, km_frame *still)
{
    int B = km_pose_pipeline_batch(r->pipe);
    if (B > 32)
        B = 32;
    km_pose_result *res = calloc((size_t)B, sizeof *res);
    batch *cur = calloc(1, sizeof *cur), *next = calloc(1, sizeof *next);
    int rc = res && cur && next ? 0 : km_seterr(KM_ENOMEM, "pose: out of memory");
    int64_t total = rd ? km_reader_info(rd)->frames : 1, nread = 0, done = 0;
    if (r->a->max_frames && (total <= 0 || total > r->a->max_frames))
        total = r->a->max_frames;
    km_progress *bar = rd ? km_progress_start("pose", total, stderr) : NULL;
    int inflight = 0;
    if (rc == 0)
        rc = read_batch(r, rd, &still, &nread, B, cur);
    if (rc == 0 && cur->n > 0) {
        rc = km_pose_pipeline_submit(r->pipe, cur->img, cur->n);
        inflight = rc == 0;
    }
    while (rc == 0 && cur->n > 0) {
        rc = read_batch(r, rd, &still, &nread, B, next);
        int rc2 = km_pose_pipeline_collect(r->pipe, res);
        inflight = 0;
        if (rc == 0)
            rc = rc2;
        if (rc == 0 && next->n > 0) {
            rc = km_pose_pipeline_submit(r->pipe, next->img, next->n);
            inflight = rc == 0;
        }
        if (rc == 0)
            rc = emit(r, cur->f, cur->n, res);
        done += cur->n;
        drop_batch(cur);
        batch *t = cur;
        cur = next;
        next = t;
        km_progress_update(bar, done);
    }
    if (inflight)
        km_pose_pipeline_collect(r->pipe, res); /* let the pool finish before freeing */
    km_progress_finish(bar);
    if (cur)
        drop_batch(cur);
    if (next)
        drop_batch(next);
    km_frame_unref(still);
    free(cur);
    free(next);
    free(res);
    return rc;
}

static int open_input(const pose_args *a, km_reader **rd, km_frame **still, km_pose_stream_info *info)
{
    int rc;
    if (km_is_image_path(a->input)) { /* a file or a URL */
        km_image *img;
        if ((rc = km_image_load(a->input, KM_PIX_RGB24, &img)))
            return rc;
        *still = km_frame_new(img, 0, 0, 0.0);
        if (!*still) {
            km_image_free(img);
            return km_seterr(KM_ENOMEM, "pose: out of memory");
        }
        info->width = img->width;
        info->height = img->height;
        info->fps = 0;
        return 0;
    }
    if ((rc = km_reader_open(rd, a->input, NULL)))
        return rc;
    const km_video_info *vi = km_reader_info(*rd);
    info->width = vi->width;
    info->height = vi->height;
    info->fps = vi->fps;
    return 0;
}

static int open_overlay(pose_run *r, const km_pose_stream_info *info)
{
    const char *ov = r->a->overlay;
    if (!ov)
        return 0;
    if (r->still) {
        if (!is_still_overlay(ov))
            return km_seterr(KM_EINVAL, "--overlay for an image must end in .png or .jpg");
        return 0;
    }
    if (is_still_overlay(ov))
        return km_seterr(KM_EINVAL, "--overlay for a video must be a video file (.mp4, .mkv, .webm, .gif)");
    km_writer_opts wo = KM_WRITER_OPTS_DEFAULT;
    wo.fps = info->fps > 0 ? info->fps : 25.0;
    return km_writer_open(&r->video, ov, info->width, info->height, &wo);
}

int cmd_pose(int argc, char **argv)
{
    pose_args a;
    int rc = parse_pose_args(argc, argv, &a);
    if (rc != KM_EXIT_OK)
        return rc;
    km_reader *rd = NULL;
    km_frame *still = NULL;
    km_pose_stream_info info = {a.input, 0, 0, 0, a.names, a.nkinds, KM_KP_COCO17};
    if (open_input(&a, &rd, &still, &info))
        return cli_fail("pose", "cannot open input");
    pose_run r = {&a, NULL, NULL, NULL, still != NULL, (float)a.kp_threshold};
    km_pose_pipeline_opts po;
    memset(&po, 0, sizeof po);
    po.kinds = a.kinds;
    po.nkinds = a.nkinds;
    po.weights = a.nweights ? a.weights : NULL;
    po.models_dir = a.models_dir;
    po.threads = (int)a.threads;
    po.precision = a.precision;
    po.track = still == NULL;
    po.fuse.kp_threshold = (float)a.kp_threshold;
    po.fuse.format = a.want33 ? KM_KP_BLAZE33 : KM_KP_COCO17;
    const char *what = "cannot load models";
    rc = km_pose_pipeline_new(&r.pipe, &po);
    if (rc == 0) {
        info.format = km_pose_pipeline_format(r.pipe);
        what = "cannot open output";
        rc = km_pose_writer_open(&r.out, a.output, a.fmt, &info);
    }
    if (rc == 0) {
        what = "cannot open overlay";
        rc = open_overlay(&r, &info);
    }
    if (rc == 0) {
        what = "pose estimation failed";
        rc = run_video(&r, rd, still);
        still = NULL; /* consumed */
    }
    if (rc == 0) {
        what = "cannot write output";
        km_pose_writer *w = r.out;
        r.out = NULL;
        rc = km_pose_writer_close(w);
    }
    if (rc == 0 && r.video) {
        what = "cannot write overlay";
        km_writer *vw = r.video;
        r.video = NULL;
        rc = km_writer_close(vw);
    }
    int status = rc ? cli_fail("pose", what) : KM_EXIT_OK;
    km_pose_writer_abort(r.out);
    if (r.video)
        km_writer_abort(r.video);
    km_frame_unref(still);
    km_pose_pipeline_free(r.pipe);
    km_reader_close(rd);
    return status;
}
