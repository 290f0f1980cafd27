/*
 * keypoints.c - per-camera 2D keypoint files in the `kinema pose` JSON
 * schema, read into one person's dense [frames][keypoints][3] sequence.
 *
 * Why dense: triangulation, filtering and self-calibration index by
 * (frame, keypoint) across cameras; a missing detection becomes score 0.
 * The reader bounds the file size, frame count and keypoint count, and
 * every error names the file and the JSON field.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kinema/geom.h"
#include "geom/jsonout.h"

#define KP_MAX_FILE KM_KP2D_MAX_BYTES

int km_kp2d_alloc(km_kp2d *k, km_skeleton skel, int nframes)
{
    memset(k, 0, sizeof *k);
    int nkp = km_skeleton_count(skel);
    if (nkp <= 0)
        return km_seterr(KM_EINVAL, "unknown skeleton");
    if (nframes < 0 || nframes > KM_GEOM_MAX_FRAMES)
        return km_seterr(KM_ERANGE, "frame count %d outside 0..%d", nframes,
                         KM_GEOM_MAX_FRAMES);
    size_t nf = nframes > 0 ? (size_t)nframes : 1;
    k->skel = skel;
    k->nkp = nkp;
    k->nframes = nframes;
    k->frame_index = calloc(nf, sizeof *k->frame_index);
    k->timestamp = calloc(nf, sizeof *k->timestamp);
    k->kp = calloc(nf * (size_t)nkp * 3, sizeof *k->kp);
    if (!k->frame_index || !k->timestamp || !k->kp) {
        km_kp2d_free(k);
        return km_seterr(KM_ENOMEM, "out of memory for %d frames of keypoints", nframes);
    }
    for (int i = 0; i < nframes; i++)
        k->frame_index[i] = i;
    return 0;
}

void km_kp2d_free(km_kp2d *k)
{
    if (!k)
        return;
    free(k->input);
    free(k->frame_index);
    free(k->timestamp);
    free(k->kp);
    memset(k, 0, sizeof *k);
}

/* ---------------------------------------------------------------- read */

static int get_int(const char *path, json_t *o, const char *field, long lo, long hi,
                   long *out)
{
    json_t *v = json_object_get(o, field);
    if (!json_is_integer(v) && !(json_is_real(v) && json_real_value(v) == floor(json_real_value(v))))
        return km_seterr(KM_EFORMAT, "%s: field '%s': expected an integer", path, field);
    double d = json_number_value(v);
    if (d < lo || d > hi)
        return km_seterr(KM_EFORMAT, "%s: field '%s': %g outside %ld..%ld", path, field, d, lo,
                         hi);
    *out = (long)d;
    return 0;
}

/* Pick the person to keep in one frame: by id, or the best score. */
static json_t *pick_person(const char *path, int fi, json_t *persons, int person_id, int *rc)
{
    *rc = 0;
    if (!json_is_array(persons)) {
        *rc = km_seterr(KM_EFORMAT, "%s: frames[%d].persons: expected an array", path, fi);
        return NULL;
    }
    json_t *best = NULL;
    double best_score = -INFINITY;
    size_t i;
    json_t *p;
    json_array_foreach(persons, i, p) {
        if (!json_is_object(p)) {
            *rc = km_seterr(KM_EFORMAT, "%s: frames[%d].persons[%zu]: expected an object",
                            path, fi, i);
            return NULL;
        }
        if (person_id >= 0) {
            json_t *id = json_object_get(p, "id");
            if (json_is_integer(id) && json_integer_value(id) == person_id)
                return p;
            continue;
        }
        json_t *s = json_object_get(p, "score");
        double sc = json_is_number(s) ? json_number_value(s) : 0;
        if (sc > best_score)
            best_score = sc, best = p;
    }
    return best;
}

static int read_person(const char *path, int fi, json_t *p, int nkp, double *out)
{
    json_t *kps = json_object_get(p, "keypoints");
    if (!json_is_array(kps) || json_array_size(kps) != (size_t)nkp)
        return km_seterr(KM_EFORMAT,
                         "%s: frames[%d].persons[].keypoints: expected an array of %d "
                         "[x, y, score] triples",
                         path, fi, nkp);
    for (int k = 0; k < nkp; k++) {
        json_t *t = json_array_get(kps, (size_t)k);
        size_t n = json_is_array(t) ? json_array_size(t) : 0;
        if (n < 2 || n > 3)
            return km_seterr(KM_EFORMAT, "%s: frames[%d].persons[].keypoints[%d]: expected "
                                         "[x, y, score]",
                             path, fi, k);
        double v[3] = {0, 0, 1};
        for (size_t j = 0; j < n; j++) {
            json_t *x = json_array_get(t, j);
            if (json_is_null(x)) {
                v[2] = 0;
                continue;
            }
            if (!json_is_number(x) || !isfinite(json_number_value(x)))
                return km_seterr(KM_EFORMAT, "%s: frames[%d].persons[].keypoints[%d][%zu]: "
                                             "expected a finite number",
                                 path, fi, k, j);
            v[j] = json_number_value(x);
        }
        if (!(v[2] > 0))
            v[0] = v[1] = v[2] = 0;
        memcpy(out + 3 * k, v, sizeof v);
    }
    return 0;
}

static int read_header(const char *path, json_t *root, km_kp2d *out, km_skeleton *skel)
{
    long w, h;
    int rc;
    if ((rc = get_int(path, root, "width", 1, 100000, &w)) ||
        (rc = get_int(path, root, "height", 1, 100000, &h)))
        return rc;
    json_t *fps = json_object_get(root, "fps");
    /* 0 is what `kinema pose` writes for a still image. */
    if (!json_is_number(fps) || !(json_number_value(fps) >= 0 && json_number_value(fps) <= 10000))
        return km_seterr(KM_EFORMAT, "%s: field 'fps': expected a number in [0, 10000]", path);
    json_t *fmt = json_object_get(root, "keypoint_format");
    *skel = km_skeleton_parse(json_string_value(fmt));
    if (*skel == KM_SKEL_NONE)
        return km_seterr(KM_EFORMAT, "%s: field 'keypoint_format': expected \"coco17\" or "
                                     "\"blazepose33\"",
                         path);
    json_t *names = json_object_get(root, "keypoint_names");
    if (names) {
        int n = km_skeleton_count(*skel);
        if (!json_is_array(names) || json_array_size(names) != (size_t)n)
            return km_seterr(KM_EFORMAT, "%s: field 'keypoint_names': expected %d names for %s",
                             path, n, km_skeleton_id(*skel));
        for (int i = 0; i < n; i++) {
            const char *s = json_string_value(json_array_get(names, (size_t)i));
            if (!s || strcmp(s, km_skeleton_name(*skel, i)) != 0)
                return km_seterr(KM_EFORMAT, "%s: keypoint_names[%d]: expected \"%s\"", path,
                                 i, km_skeleton_name(*skel, i));
        }
    }
    out->width = (int)w;
    out->height = (int)h;
    out->fps = json_number_value(fps);
    return 0;
}

static int read_frames(const char *path, json_t *frames, int person_id, km_kp2d *out)
{
    for (int f = 0; f < out->nframes; f++) {
        json_t *fr = json_array_get(frames, (size_t)f);
        if (!json_is_object(fr))
            return km_seterr(KM_EFORMAT, "%s: frames[%d]: expected an object", path, f);
        long idx;
        int rc = get_int(path, fr, "frame", 0, KM_GEOM_MAX_FRAMES * 100L, &idx);
        if (rc)
            return km_seterr(KM_EFORMAT, "%s: frames[%d].frame: expected an integer >= 0", path,
                             f);
        if (f > 0 && idx <= out->frame_index[f - 1])
            return km_seterr(KM_EFORMAT, "%s: frames[%d].frame: frame numbers must increase",
                             path, f);
        out->frame_index[f] = (int)idx;
        json_t *ts = json_object_get(fr, "timestamp");
        out->timestamp[f] = json_is_number(ts) ? json_number_value(ts)
                          : out->fps > 0 ? idx / out->fps : 0.0;
        json_t *p = pick_person(path, f, json_object_get(fr, "persons"), person_id, &rc);
        if (rc)
            return rc;
        if (p && (rc = read_person(path, f, p, out->nkp, out->kp + (size_t)f * out->nkp * 3)))
            return rc;
    }
    return 0;
}

int km_kp2d_read(const char *path, int person_id, km_kp2d *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = km_read_file(path, KP_MAX_FILE, &data, &len);
    if (rc)
        return rc;
    json_error_t err;
    json_t *root = json_loadb((const char *)data, len, 0, &err);
    free(data);
    if (!root)
        return km_seterr(KM_EFORMAT, "%s:%d:%d: %s", path, err.line, err.column, err.text);
    km_kp2d hdr;
    memset(&hdr, 0, sizeof hdr);
    km_skeleton skel = KM_SKEL_NONE;
    json_t *frames = json_object_get(root, "frames");
    if (!json_is_object(root))
        rc = km_seterr(KM_EFORMAT, "%s: expected a JSON object at the top", path);
    else
        rc = read_header(path, root, &hdr, &skel);
    if (!rc && !json_is_array(frames))
        rc = km_seterr(KM_EFORMAT, "%s: field 'frames': expected an array", path);
    if (!rc && json_array_size(frames) > (size_t)KM_GEOM_MAX_FRAMES)
        rc = km_seterr(KM_ERANGE, "%s: more than %d frames", path, KM_GEOM_MAX_FRAMES);
    if (!rc)
        rc = km_kp2d_alloc(out, skel, (int)json_array_size(frames));
    if (!rc) {
        out->width = hdr.width, out->height = hdr.height, out->fps = hdr.fps;
        const char *in = json_string_value(json_object_get(root, "input"));
        if (in && !(out->input = strdup(in)))
            rc = km_seterr(KM_ENOMEM, "out of memory");
    }
    if (!rc)
        rc = read_frames(path, frames, person_id, out);
    json_decref(root);
    if (rc)
        km_kp2d_free(out);
    return rc;
}

/* --------------------------------------------------------------- write */

static double round3(double v)
{
    return round(v * 1000.0) / 1000.0;
}

static json_t *person_json(const km_kp2d *k, const double *kp, const double *kp3d)
{
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY, ssum = 0;
    int nvis = 0;
    json_t *kps = json_array();
    for (int i = 0; i < k->nkp; i++) {
        const double *p = kp + 3 * i;
        json_t *t = json_array();
        json_array_append_new(t, json_real(round3(p[0])));
        json_array_append_new(t, json_real(round3(p[1])));
        json_array_append_new(t, json_real(round3(p[2])));
        json_array_append_new(kps, t);
        if (p[2] > 0) {
            x0 = fmin(x0, p[0]), y0 = fmin(y0, p[1]);
            x1 = fmax(x1, p[0]), y1 = fmax(y1, p[1]);
            ssum += p[2];
            nvis++;
        }
    }
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(0));
    json_object_set_new(o, "score", json_real(round3(ssum / k->nkp)));
    json_t *bb = json_array();
    double b[4] = {x0, y0, x1 - x0, y1 - y0};
    for (int i = 0; i < 4; i++)
        json_array_append_new(bb, json_real(nvis ? round3(b[i]) : 0.0));
    json_object_set_new(o, "bbox", bb);
    json_object_set_new(o, "keypoints", kps);
    if (kp3d) {
        json_t *k3 = json_array();
        for (int i = 0; i < k->nkp; i++) {
            const double *q = kp3d + 3 * i;
            if (!isfinite(q[0]) || !isfinite(q[1]) || !isfinite(q[2])) {
                json_array_append_new(k3, json_null());
                continue;
            }
            json_t *t = json_array();
            for (int j = 0; j < 3; j++)
                json_array_append_new(t, json_real(round(q[j] * 1e6) / 1e6));
            json_array_append_new(k3, t);
        }
        json_object_set_new(o, "keypoints_3d", k3);
    } else {
        json_object_set_new(o, "keypoints_3d", json_null());
    }
    return o;
}

int km_kp2d_write(const char *path, const km_kp2d *k, const char *model, const double *kp3d)
{
    json_t *root = json_object();
    json_object_set_new(root, "input", json_string(k->input ? k->input : ""));
    json_object_set_new(root, "width", json_integer(k->width));
    json_object_set_new(root, "height", json_integer(k->height));
    json_object_set_new(root, "fps", json_real(k->fps));
    json_t *models = json_array();
    json_array_append_new(models, json_string(model ? model : "unknown"));
    json_object_set_new(root, "models", models);
    json_object_set_new(root, "keypoint_format", json_string(km_skeleton_id(k->skel)));
    json_t *names = json_array();
    for (int i = 0; i < k->nkp; i++)
        json_array_append_new(names, json_string(km_skeleton_name(k->skel, i)));
    json_object_set_new(root, "keypoint_names", names);
    json_t *frames = json_array();
    for (int f = 0; f < k->nframes; f++) {
        const double *kp = k->kp + (size_t)f * k->nkp * 3;
        json_t *fr = json_object(), *persons = json_array();
        json_object_set_new(fr, "frame", json_integer(k->frame_index[f]));
        json_object_set_new(fr, "timestamp", json_real(round(k->timestamp[f] * 1e6) / 1e6));
        int any = 0;
        for (int i = 0; i < k->nkp; i++)
            any |= kp[3 * i + 2] > 0;
        if (any)
            json_array_append_new(persons,
                                  person_json(k, kp, kp3d ? kp3d + (size_t)f * k->nkp * 3 : NULL));
        json_object_set_new(fr, "persons", persons);
        json_array_append_new(frames, fr);
    }
    json_object_set_new(root, "frames", frames);
    return geom_json_write(path, root, JSON_COMPACT | JSON_REAL_PRECISION(10), path);
}
