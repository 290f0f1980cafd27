/*
 * pipeline.c - filter pipelines from strings such as
 * "gray|gaussian:7:1.5|canny:100:200", shared by `kinema filter` and the
 * frame pipeline.
 *
 * Parsing validates everything up front (names, argument counts, ranges,
 * odd kernel sizes) so a bad spec fails before any frame is read, with a
 * message naming the step number and text. Running applies the steps in
 * order on a private copy; steps that compare with the previous frame
 * (motion, flow) keep that frame in the pipeline, one per step.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "vision/vision_priv.h"

#define PIPE_MAX_STEPS 32
#define PIPE_MAX_SPEC 4096
#define PIPE_MAX_ARGS 3
#define PIPE_DEFAULT_HAAR_DIR "/usr/share/opencv4/haarcascades"
#define PIPE_FACE_CASCADE "haarcascade_frontalface_default.xml"

typedef enum {
    ST_GRAY, ST_RGB, ST_GAUSSIAN, ST_MEDIAN, ST_BILATERAL, ST_SOBEL, ST_SCHARR, ST_LAPLACIAN,
    ST_CANNY, ST_DILATE, ST_ERODE, ST_THRESHOLD, ST_MOTION, ST_MOTIONBOXES, ST_FLOW, ST_FACES,
    ST_ANONYMIZE,
} step_kind;

typedef struct {
    const char *name;
    step_kind kind;
    int nargs;                     /* accepted at most */
    double def[PIPE_MAX_ARGS];
    double lo[PIPE_MAX_ARGS], hi[PIPE_MAX_ARGS];
    const char *args[PIPE_MAX_ARGS];
    int stateful;
} step_spec;

static const step_spec SPECS[] = {
    {"gray", ST_GRAY, 0, {0}, {0}, {0}, {0}, 0},
    {"rgb", ST_RGB, 0, {0}, {0}, {0}, {0}, 0},
    {"gaussian", ST_GAUSSIAN, 2, {5, 0}, {0, 0}, {1025, 1000}, {"ksize", "sigma"}, 0},
    {"blur", ST_GAUSSIAN, 2, {5, 0}, {0, 0}, {1025, 1000}, {"ksize", "sigma"}, 0},
    {"median", ST_MEDIAN, 1, {5}, {1}, {255}, {"ksize"}, 0},
    {"bilateral", ST_BILATERAL, 3, {9, 75, 75}, {1, 0.01, 0.01}, {129, 1e5, 1000},
     {"diameter", "sigma_color", "sigma_space"}, 0},
    {"sobel", ST_SOBEL, 3, {1, 0, 3}, {0, 0, 1}, {2, 2, 5}, {"dx", "dy", "ksize"}, 0},
    {"scharr", ST_SCHARR, 2, {1, 0}, {0, 0}, {1, 1}, {"dx", "dy"}, 0},
    {"laplacian", ST_LAPLACIAN, 1, {3}, {1}, {5}, {"ksize"}, 0},
    {"canny", ST_CANNY, 3, {100, 200, 0}, {0, 0, 0}, {1e5, 1e5, 1}, {"low", "high", "l2"}, 0},
    {"dilate", ST_DILATE, 1, {1}, {0}, {64}, {"radius"}, 0},
    {"erode", ST_ERODE, 1, {1}, {0}, {64}, {"radius"}, 0},
    {"threshold", ST_THRESHOLD, 1, {127}, {0}, {255}, {"t"}, 0},
    {"motion", ST_MOTION, 1, {25}, {0}, {254}, {"threshold"}, 1},
    {"motionboxes", ST_MOTIONBOXES, 1, {25}, {0}, {254}, {"threshold"}, 1},
    {"flow", ST_FLOW, 0, {0}, {0}, {0}, {0}, 1},
    {"faces", ST_FACES, 1, {3}, {0}, {100}, {"min_neighbors"}, 0},
    {"anonymize", ST_ANONYMIZE, 2, {0, 31}, {0, 1}, {1, 255}, {"mode", "strength"}, 0},
};
#define NSPECS (int)(sizeof SPECS / sizeof SPECS[0])

typedef struct {
    const step_spec *spec;
    double a[PIPE_MAX_ARGS];
    km_image *prev; /* stateful steps: previous input frame */
} step;

struct km_pipeline {
    int n;
    step steps[PIPE_MAX_STEPS];
    km_cascade *faces;
};

/* ---------------------------------------------------------- parsing */

static int step_error(int idx, const char *text, const char *fmt, double v)
{
    char rule[200];
    snprintf(rule, sizeof rule, fmt, v);
    return km_seterr(KM_EINVAL, "pipeline step %d '%s': %s", idx, text, rule);
}

static int parse_number(const char *s, double *out)
{
    if (!*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* Mode names accepted for anonymize's first argument. */
static int parse_arg(const step_spec *sp, int i, const char *s, double *out)
{
    if (sp->kind == ST_ANONYMIZE && i == 0) {
        if (!strcmp(s, "blur")) {
            *out = KM_ANON_BLUR;
            return 0;
        }
        if (!strcmp(s, "pixelate")) {
            *out = KM_ANON_PIXELATE;
            return 0;
        }
    }
    return parse_number(s, out);
}

static int check_step_rules(const step *st, int idx, const char *text)
{
    const double *a = st->a;
    switch (st->spec->kind) {
    case ST_GAUSSIAN:
        if ((int)a[0] != a[0] || ((int)a[0] % 2 == 0 && a[0] != 0))
            return step_error(idx, text, "ksize must be an odd integer (or 0 with sigma > 0), got %g", a[0]);
        if (a[0] == 0 && !(a[1] > 0))
            return step_error(idx, text, "ksize 0 needs sigma > 0, got %g", a[1]);
        break;
    case ST_MEDIAN:
        if ((int)a[0] != a[0] || (int)a[0] % 2 == 0)
            return step_error(idx, text, "ksize must be an odd integer, got %g", a[0]);
        break;
    case ST_SOBEL:
        if ((int)a[2] != a[2] || ((int)a[2] != 1 && (int)a[2] != 3 && (int)a[2] != 5))
            return step_error(idx, text, "ksize must be 1, 3 or 5, got %g", a[2]);
        if (a[0] + a[1] < 1)
            return step_error(idx, text, "dx + dy must be >= 1 (dx+dy = %g)", a[0] + a[1]);
        break;
    case ST_SCHARR:
        if (a[0] + a[1] != 1)
            return step_error(idx, text, "(dx, dy) must be (1, 0) or (0, 1); dx+dy = %g", a[0] + a[1]);
        break;
    case ST_LAPLACIAN:
        if ((int)a[0] % 2 == 0 || (int)a[0] != a[0])
            return step_error(idx, text, "ksize must be 1, 3 or 5, got %g", a[0]);
        break;
    case ST_ANONYMIZE:
        if (a[0] != 0 && a[0] != 1)
            return step_error(idx, text, "mode must be blur or pixelate (0 or 1), got %g", a[0]);
        break;
    default:
        break;
    }
    for (int i = 0; i < st->spec->nargs; i++) {
        int integral = !(st->spec->kind == ST_GAUSSIAN && i == 1) && st->spec->kind != ST_BILATERAL &&
                       st->spec->kind != ST_CANNY;
        if (integral && a[i] != floor(a[i]))
            return step_error(idx, text, "arguments must be whole numbers, got %g", a[i]);
    }
    return 0;
}

static int parse_step(char *text, int idx, step *st)
{
    char *name = text, *args = strchr(text, ':');
    if (args)
        *args++ = 0;
    const step_spec *sp = NULL;
    for (int i = 0; i < NSPECS; i++)
        if (!strcmp(SPECS[i].name, name))
            sp = &SPECS[i];
    if (!sp)
        return km_seterr(KM_EINVAL,
                         "pipeline step %d '%s': unknown filter (known: gray rgb gaussian blur median "
                         "bilateral sobel scharr laplacian canny dilate erode threshold motion "
                         "motionboxes flow faces anonymize)",
                         idx, name);
    st->spec = sp;
    memcpy(st->a, sp->def, sizeof st->a);
    int n = 0;
    while (args) {
        char *next = strchr(args, ':');
        if (next)
            *next++ = 0;
        if (n >= sp->nargs) {
            char msg[64];
            snprintf(msg, sizeof msg, "takes at most %d argument%s, got more", sp->nargs, sp->nargs == 1 ? "" : "s");
            return km_seterr(KM_EINVAL, "pipeline step %d '%s': %s", idx, name, msg);
        }
        double v;
        if (parse_arg(sp, n, args, &v))
            return km_seterr(KM_EINVAL, "pipeline step %d '%s': %s '%s' is not a number", idx, name,
                             sp->args[n], args);
        if (v < sp->lo[n] || v > sp->hi[n])
            return km_seterr(KM_EINVAL, "pipeline step %d '%s': %s %g outside %g..%g", idx, name,
                             sp->args[n], v, sp->lo[n], sp->hi[n]);
        st->a[n++] = v;
        args = next;
    }
    return check_step_rules(st, idx, name);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

static int load_faces(km_pipeline *p)
{
    const char *dir = getenv("KINEMA_HAAR_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : PIPE_DEFAULT_HAAR_DIR, PIPE_FACE_CASCADE);
    return km_cascade_load(path, &p->faces);
}

int km_pipeline_parse(const char *spec, km_pipeline **out)
{
    *out = NULL;
    if (!spec)
        return km_seterr(KM_EINVAL, "pipeline: no spec");
    size_t len = strlen(spec);
    if (len > PIPE_MAX_SPEC)
        return km_seterr(KM_EINVAL, "pipeline: spec of %zu bytes exceeds %d", len, PIPE_MAX_SPEC);
    char *buf = malloc(len + 1);
    km_pipeline *p = calloc(1, sizeof *p);
    if (!buf || !p) {
        free(buf), free(p);
        return km_seterr(KM_ENOMEM, "pipeline: out of memory");
    }
    memcpy(buf, spec, len + 1);
    int rc = 0, need_faces = 0;
    char *cur = buf;
    for (int idx = 1; cur; idx++) {
        char *bar = strchr(cur, '|');
        if (bar)
            *bar++ = 0;
        char *text = trim(cur);
        if (!*text) {
            rc = km_seterr(KM_EINVAL, "pipeline step %d is empty (check for '||' or a trailing '|')", idx);
            break;
        }
        if (p->n == PIPE_MAX_STEPS) {
            rc = km_seterr(KM_EINVAL, "pipeline: more than %d steps", PIPE_MAX_STEPS);
            break;
        }
        if ((rc = parse_step(text, idx, &p->steps[p->n])))
            break;
        step_kind k = p->steps[p->n].spec->kind;
        need_faces |= k == ST_FACES || k == ST_ANONYMIZE;
        p->n++;
        cur = bar;
    }
    free(buf);
    if (!rc && need_faces)
        rc = load_faces(p);
    if (rc) {
        km_pipeline_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void km_pipeline_free(km_pipeline *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        km_image_free(p->steps[i].prev);
    km_cascade_free(p->faces);
    free(p);
}

int km_pipeline_steps(const km_pipeline *p)
{
    return p ? p->n : 0;
}

/* ---------------------------------------------------------- running */

static km_image *new_like(const km_image *img, km_pixfmt fmt)
{
    return km_image_new(img->width, img->height, fmt, 0);
}

static int run_deriv(const step *st, const km_image *in, km_image **out, km_pool *pool)
{
    km_image16 *d = km_image16_new(in->width, in->height, in->channels);
    km_image *o = new_like(in, in->fmt);
    int rc = d && o ? 0 : KM_ENOMEM;
    if (!rc) {
        const double *a = st->a;
        if (st->spec->kind == ST_SOBEL)
            rc = km_sobel(in, d, (int)a[0], (int)a[1], (int)a[2], pool);
        else if (st->spec->kind == ST_SCHARR)
            rc = km_scharr(in, d, (int)a[0], (int)a[1], pool);
        else
            rc = km_laplacian(in, d, (int)a[0], pool);
    }
    if (!rc)
        rc = km_convert_scale_abs(d, o, 1.0, pool);
    km_image16_free(d);
    if (rc) {
        km_image_free(o);
        return rc;
    }
    *out = o;
    return 0;
}

static int run_faces(km_pipeline *p, const step *st, const km_image *in, km_image **out, km_pool *pool)
{
    km_detect_opts o = KM_DETECT_OPTS_DEFAULT;
    if (st->spec->kind == ST_FACES)
        o.min_neighbors = (int)st->a[0];
    km_box *boxes = NULL;
    int n = 0;
    int rc = km_cascade_detect(p->faces, in, &o, &boxes, &n, pool);
    if (rc)
        return rc;
    km_image *img = km_image_clone(in);
    if (!img) {
        free(boxes);
        return KM_ENOMEM;
    }
    if (st->spec->kind == ST_FACES) {
        km_rgb green = {0, 255, 0};
        int t = in->width >= 640 ? 3 : 2;
        for (int i = 0; i < n; i++)
            km_draw_rect(img, boxes[i], green, t);
    } else {
        rc = km_anonymize(img, boxes, n, (int)st->a[0], (int)st->a[1]);
    }
    free(boxes);
    if (rc) {
        km_image_free(img);
        return rc;
    }
    *out = img;
    return 0;
}

/* Stateful steps: compare with the previous input of this step. */
static int run_temporal(step *st, const km_image *in, km_image **out, km_pool *pool)
{
    km_image *prev = st->prev;
    int first = !prev || prev->width != in->width || prev->height != in->height || prev->fmt != in->fmt;
    km_image *o = NULL;
    int rc = 0;
    if (st->spec->kind == ST_MOTION) {
        o = new_like(in, KM_PIX_GRAY8);
        km_motion_opts mo = KM_MOTION_OPTS_DEFAULT;
        mo.threshold = (int)st->a[0];
        if (o && !first)
            rc = km_motion_detect(prev, in, &mo, o, NULL, NULL, pool);
    } else if (st->spec->kind == ST_MOTIONBOXES) {
        o = km_image_clone(in);
        km_motion_opts mo = KM_MOTION_OPTS_DEFAULT;
        mo.threshold = (int)st->a[0];
        km_box *boxes = NULL;
        int n = 0;
        if (o && !first && !(rc = km_motion_detect(prev, in, &mo, NULL, &boxes, &n, pool))) {
            km_rgb red = {255, 0, 0};
            for (int i = 0; i < n; i++)
                km_draw_rect(o, boxes[i], red, 2);
        }
        free(boxes);
    } else {
        o = new_like(in, KM_PIX_RGB24);
        if (o && !first) {
            km_image *f = km_image_new(in->width, in->height, KM_PIX_FLOAT, 2);
            rc = f ? km_flow_dense(prev, in, NULL, f, pool) : KM_ENOMEM;
            if (!rc)
                rc = km_flow_to_rgb(f, o, 0);
            km_image_free(f);
        }
    }
    if (!o)
        rc = KM_ENOMEM;
    km_image *keep = rc ? NULL : km_image_clone(in);
    if (!rc && !keep)
        rc = KM_ENOMEM;
    if (rc) {
        km_image_free(o);
        return rc;
    }
    km_image_free(st->prev);
    st->prev = keep;
    *out = o;
    return 0;
}

static int run_step(km_pipeline *p, step *st, const km_image *in, km_image **out, km_pool *pool)
{
    const double *a = st->a;
    km_image *o = NULL;
    int rc = 0;
    switch (st->spec->kind) {
    case ST_GRAY:
        o = vis_to_gray(in);
        break;
    case ST_RGB:
        o = in->fmt == KM_PIX_RGB24 ? km_image_clone(in) : km_image_convert(in, KM_PIX_RGB24, 1, 0);
        break;
    case ST_GAUSSIAN:
        if ((o = new_like(in, in->fmt)))
            rc = km_gaussian_blur(in, o, (int)a[0], a[1], pool);
        break;
    case ST_MEDIAN:
        if ((o = new_like(in, in->fmt)))
            rc = km_median_blur(in, o, (int)a[0], pool);
        break;
    case ST_BILATERAL:
        if ((o = new_like(in, in->fmt)))
            rc = km_bilateral(in, o, (int)a[0], a[1], a[2], pool);
        break;
    case ST_SOBEL:
    case ST_SCHARR:
    case ST_LAPLACIAN:
        return run_deriv(st, in, out, pool);
    case ST_CANNY:
        if ((o = new_like(in, KM_PIX_GRAY8)))
            rc = km_canny(in, o, a[0], a[1], 3, a[2] != 0, pool);
        break;
    case ST_DILATE:
    case ST_ERODE:
        if ((o = new_like(in, in->fmt)))
            rc = st->spec->kind == ST_DILATE ? km_dilate(in, o, (int)a[0], pool)
                                             : km_erode(in, o, (int)a[0], pool);
        break;
    case ST_THRESHOLD:
        if ((o = new_like(in, in->fmt)))
            for (int y = 0; y < in->height; y++) {
                const uint8_t *s = km_image_row(in, y);
                uint8_t *d = km_image_row(o, y);
                for (int x = 0; x < in->width * in->channels; x++)
                    d[x] = (uint8_t)(s[x] > a[0] ? 255 : 0);
            }
        break;
    case ST_MOTION:
    case ST_MOTIONBOXES:
    case ST_FLOW:
        return run_temporal(st, in, out, pool);
    case ST_FACES:
    case ST_ANONYMIZE:
        return run_faces(p, st, in, out, pool);
    }
    if (!o && !rc)
        rc = KM_ENOMEM;
    if (rc) {
        km_image_free(o);
        return rc;
    }
    *out = o;
    return 0;
}

int km_pipeline_run(km_pipeline *p, const km_image *in, km_image **out, km_pool *pool)
{
    *out = NULL;
    if (!p || !km_is_u8(in))
        return km_seterr(KM_EINVAL, "pipeline: need a pipeline and an RGB24 or GRAY8 frame");
    km_image *cur = km_image_clone(in);
    if (!cur)
        return KM_ENOMEM;
    for (int i = 0; i < p->n; i++) {
        km_image *next = NULL;
        int rc = run_step(p, &p->steps[i], cur, &next, pool);
        km_image_free(cur);
        if (rc) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", km_errmsg());
            return km_seterr(rc, "pipeline step %d '%s': %s", i + 1, p->steps[i].spec->name, msg);
        }
        cur = next;
    }
    *out = cur;
    return 0;
}
