/*
 * export.c - 3D keypoint sequences to the files biomechanics and data
 * tools read: .npy [frames, keypoints, 3] (metres), .trc (OpenSim, mm,
 * y-up), .c3d (binary motion-capture standard, mm), CSV and JSON; and 2D
 * keypoints as OpenPose-style per-frame JSON.
 *
 * Why here: the formats are the layer's contract with OpenSim, Mokka,
 * Visual3D, pandas and OpenPose-era tools. Every writer is atomic
 * (temp file + rename), so a failed export leaves nothing half-written.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "kinema/geom.h"
#include "geom/jsonout.h"

km_export_format km_export_format_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/'))
        return KM_EXPORT_UNKNOWN;
    static const char *ext[] = {".npy", ".trc", ".c3d", ".csv", ".json"};
    for (int i = 0; i < 5; i++)
        if (strcasecmp(dot, ext[i]) == 0)
            return (km_export_format)i;
    return KM_EXPORT_UNKNOWN;
}

static int finite3(const double *p)
{
    return isfinite(p[0]) && isfinite(p[1]) && isfinite(p[2]);
}

static int write_npy(const char *path, const double *seq, int nframes, int nkp)
{
    km_array a = {KM_DT_F64, 3, {nframes, nkp, 3}, (void *)seq};
    return km_npy_write(path, &a);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void write_trc(FILE *f, const char *path, const double *seq, int nframes, int nkp,
                      const char *const *names, double fps)
{
    fprintf(f, "PathFileType\t4\t(X/Y/Z)\t%s\n", base_name(path));
    fprintf(f, "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\t"
               "OrigDataStartFrame\tOrigNumFrames\n");
    fprintf(f, "%.6g\t%.6g\t%d\t%d\tmm\t%.6g\t1\t%d\n", fps, fps, nframes, nkp, fps, nframes);
    fputs("Frame#\tTime", f);
    for (int k = 0; k < nkp; k++)
        fprintf(f, "\t%s\t\t", names[k]);
    fputs("\n\t", f);
    for (int k = 0; k < nkp; k++)
        fprintf(f, "\tX%d\tY%d\tZ%d", k + 1, k + 1, k + 1);
    fputs("\n\n", f);
    for (int i = 0; i < nframes; i++) {
        fprintf(f, "%d\t%.6f", i + 1, i / fps);
        for (int k = 0; k < nkp; k++) {
            const double *p = seq + ((size_t)i * nkp + k) * 3;
            if (!finite3(p)) {
                fputs("\tNaN\tNaN\tNaN", f);
                continue;
            }
            /* z-up (x, y, z) -> OpenSim y-up (y, z, x), millimetres */
            fprintf(f, "\t%.4f\t%.4f\t%.4f", p[1] * 1000, p[2] * 1000, p[0] * 1000);
        }
        fputc('\n', f);
    }
}

static void write_csv(FILE *f, const double *seq, int nframes, int nkp,
                      const char *const *names, double fps)
{
    fputs("frame,time", f);
    for (int k = 0; k < nkp; k++)
        fprintf(f, ",%s_x,%s_y,%s_z", names[k], names[k], names[k]);
    fputc('\n', f);
    for (int i = 0; i < nframes; i++) {
        fprintf(f, "%d,%.6f", i, i / fps);
        for (int k = 0; k < nkp; k++) {
            const double *p = seq + ((size_t)i * nkp + k) * 3;
            if (finite3(p))
                fprintf(f, ",%.6f,%.6f,%.6f", p[0], p[1], p[2]);
            else
                fputs(",,,", f);
        }
        fputc('\n', f);
    }
}

static int write_json3d(const char *path, const double *seq, int nframes, int nkp,
                        const char *const *names, double fps)
{
    json_t *root = json_object(), *jn = json_array(), *frames = json_array();
    json_object_set_new(root, "units", json_string("m"));
    json_object_set_new(root, "up", json_string("z"));
    json_object_set_new(root, "fps", json_real(fps));
    for (int k = 0; k < nkp; k++)
        json_array_append_new(jn, json_string(names[k]));
    json_object_set_new(root, "keypoint_names", jn);
    for (int i = 0; i < nframes; i++) {
        json_t *fr = json_object(), *kp = json_array();
        json_object_set_new(fr, "frame", json_integer(i));
        json_object_set_new(fr, "timestamp", json_real(i / fps));
        for (int k = 0; k < nkp; k++) {
            const double *p = seq + ((size_t)i * nkp + k) * 3;
            if (!finite3(p)) {
                json_array_append_new(kp, json_null());
                continue;
            }
            json_t *t = json_array();
            for (int d = 0; d < 3; d++)
                json_array_append_new(t, json_real(round(p[d] * 1e6) / 1e6));
            json_array_append_new(kp, t);
        }
        json_object_set_new(fr, "keypoints_3d", kp);
        json_array_append_new(frames, fr);
    }
    json_object_set_new(root, "frames", frames);
    return geom_json_write(path, root, JSON_COMPACT | JSON_REAL_PRECISION(10), path);
}

/* ------------------------------------------------------------------ C3D */

/* A growing little-endian byte buffer with a hard cap. */
typedef struct {
    unsigned char *p;
    size_t n, cap;
    int oom;
} bytes;

static void put(bytes *b, const void *src, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (nc < b->n + n)
            nc *= 2;
        unsigned char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_u8(bytes *b, int v)
{
    unsigned char c = (unsigned char)v;
    put(b, &c, 1);
}

static void put_i16(bytes *b, int v)
{
    unsigned char c[2] = {(unsigned char)(v & 0xFF), (unsigned char)((v >> 8) & 0xFF)};
    put(b, c, 2);
}

static void put_f32(bytes *b, float v)
{
    put(b, &v, 4); /* x86-64 is little-endian: processor type 84 (Intel) */
}

static void pad_to_block(bytes *b)
{
    static const unsigned char zero[512];
    size_t r = b->n % 512;
    if (r)
        put(b, zero, 512 - r);
}

/* One parameter record: name, group id, type, dims, data, description.
 * `last` writes 0 as the offset to the next record (end of section). */
static void c3d_param(bytes *b, const char *name, int group, int type, int ndim,
                      const int *dims, const void *data, int last)
{
    size_t nl = strlen(name);
    put_u8(b, (int)nl);
    put_u8(b, group);
    put(b, name, nl);
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        count *= (size_t)dims[i];
    size_t elem = type == -1 ? 1 : (size_t)type;
    size_t next = 2 + 1 + 1 + (size_t)ndim + count * elem + 1;
    put_i16(b, last ? 0 : (int)next);
    put_u8(b, type & 0xFF);
    put_u8(b, ndim);
    for (int i = 0; i < ndim; i++)
        put_u8(b, dims[i]);
    put(b, data, count * elem);
    put_u8(b, 0); /* no description */
}

static void c3d_group(bytes *b, const char *name, int id)
{
    size_t nl = strlen(name);
    put_u8(b, (int)nl);
    put_u8(b, -id & 0xFF);
    put(b, name, nl);
    put_i16(b, 3); /* offset field + desc length byte */
    put_u8(b, 0);
}

static int c3d_build(bytes *b, const double *seq, int nframes, int nkp,
                     const char *const *names, double fps, int *data_block)
{
    enum { LABEL_LEN = 32 };
    /* parameter section first, in a scratch buffer, to know its size */
    bytes par = {0};
    unsigned char hdr[4] = {1, 0x50, 0, 84};
    put(&par, hdr, 4);
    c3d_group(&par, "POINT", 1);
    int16_t used = (int16_t)nkp;
    float scale = -1.0f, rate = (float)fps;
    int16_t frames16 = (int16_t)(nframes > 32767 ? 32767 : nframes);
    c3d_param(&par, "USED", 1, 2, 0, NULL, &used, 0);
    c3d_param(&par, "SCALE", 1, 4, 0, NULL, &scale, 0);
    c3d_param(&par, "RATE", 1, 4, 0, NULL, &rate, 0);
    c3d_param(&par, "FRAMES", 1, 2, 0, NULL, &frames16, 0);
    const char units[2] = {'m', 'm'};
    int udims[1] = {2};
    c3d_param(&par, "UNITS", 1, -1, 1, udims, units, 0);
    char *labels = calloc((size_t)nkp, LABEL_LEN);
    if (!labels)
        return km_seterr(KM_ENOMEM, "c3d: out of memory");
    memset(labels, ' ', (size_t)nkp * LABEL_LEN);
    for (int k = 0; k < nkp; k++) {
        size_t L = strlen(names[k]);
        memcpy(labels + (size_t)k * LABEL_LEN, names[k], L < LABEL_LEN ? L : LABEL_LEN);
    }
    int ldims[2] = {LABEL_LEN, nkp};
    c3d_param(&par, "LABELS", 1, -1, 2, ldims, labels, 0);
    free(labels);
    /* DATA_START is known once the section size is: patch it below */
    size_t ds_pos = par.n;
    int16_t ds = 0;
    c3d_param(&par, "DATA_START", 1, 2, 0, NULL, &ds, 0);
    c3d_group(&par, "ANALOG", 2);
    int16_t zero = 0;
    float arate = (float)fps;
    c3d_param(&par, "USED", 2, 2, 0, NULL, &zero, 0);
    c3d_param(&par, "RATE", 2, 4, 0, NULL, &arate, 1);
    int nblocks = (int)((par.n + 511) / 512);
    *data_block = 2 + nblocks;
    par.p[2] = (unsigned char)nblocks;
    ds = (int16_t)*data_block;
    /* the value sits after len, id, name(10), offset(2), type, ndim */
    memcpy(par.p + ds_pos + 2 + 10 + 2 + 2, &ds, 2);
    if (par.oom) {
        free(par.p);
        return km_seterr(KM_ENOMEM, "c3d: out of memory");
    }
    /* header block */
    put_u8(b, 2);
    put_u8(b, 0x50);
    put_i16(b, nkp);
    put_i16(b, 0);                      /* analog measurements per frame */
    put_i16(b, 1);                      /* first frame */
    put_i16(b, frames16);               /* last frame */
    put_i16(b, 10);                     /* max interpolation gap */
    put_f32(b, -1.0f);                  /* scale: negative = float data */
    put_i16(b, *data_block);
    put_i16(b, 0);                      /* analog samples per frame */
    put_f32(b, (float)fps);
    pad_to_block(b);
    put(b, par.p, par.n);
    free(par.p);
    pad_to_block(b);
    for (int i = 0; i < frames16; i++)
        for (int k = 0; k < nkp; k++) {
            const double *p = seq + ((size_t)i * nkp + k) * 3;
            int ok = finite3(p);
            for (int d = 0; d < 3; d++)
                put_f32(b, ok ? (float)(p[d] * 1000.0) : 0.0f);
            put_f32(b, ok ? 0.0f : -1.0f); /* residual: -1 marks invalid */
        }
    pad_to_block(b);
    return b->oom ? km_seterr(KM_ENOMEM, "c3d: out of memory") : 0;
}

static int write_c3d(const char *path, const double *seq, int nframes, int nkp,
                     const char *const *names, double fps)
{
    if (nkp > 255 || nframes > 32767)
        return km_seterr(KM_ERANGE, "%s: c3d holds at most 255 points and 32767 frames", path);
    bytes b = {0};
    int block;
    int rc = c3d_build(&b, seq, nframes, nkp, names, fps, &block);
    if (rc == 0)
        rc = km_write_file_atomic(path, b.p, b.n);
    free(b.p);
    return rc;
}

int km_export_3d(const char *path, km_export_format fmt, const double *seq, int nframes,
                 int nkp, const char *const *names, double fps)
{
    if (nframes < 0 || nkp < 1 || nkp > KM_GEOM_MAX_KEYPOINTS || !(fps > 0))
        return km_seterr(KM_EINVAL, "%s: bad export sizes (%d frames, %d keypoints, %g fps)",
                         path, nframes, nkp, fps);
    switch (fmt) {
    case KM_EXPORT_NPY: return write_npy(path, seq, nframes, nkp);
    case KM_EXPORT_C3D: return write_c3d(path, seq, nframes, nkp, names, fps);
    case KM_EXPORT_JSON: return write_json3d(path, seq, nframes, nkp, names, fps);
    case KM_EXPORT_TRC:
    case KM_EXPORT_CSV: {
        km_afile *af;
        int rc = km_afile_open(&af, path);
        if (rc)
            return rc;
        FILE *f = km_afile_stream(af);
        if (fmt == KM_EXPORT_TRC)
            write_trc(f, path, seq, nframes, nkp, names, fps);
        else
            write_csv(f, seq, nframes, nkp, names, fps);
        if (ferror(f)) {
            km_afile_abort(af);
            return km_seterr(KM_EIO, "%s: write failed", path);
        }
        return km_afile_commit(af);
    }
    default:
        return km_seterr(KM_EUNSUPPORTED, "%s: output must be .npy, .trc, .c3d, .csv or .json",
                         path);
    }
}

int km_export_openpose(const char *dir, const char *prefix, const km_kp2d *k)
{
    int rc = km_mkdirs(dir);
    for (int f = 0; rc == 0 && f < k->nframes; f++) {
        char name[320], path[4096];
        snprintf(name, sizeof name, "%s_%012d_keypoints.json", prefix, k->frame_index[f]);
        if ((rc = km_path_join(path, sizeof path, dir, name)))
            break;
        json_t *root = json_object(), *people = json_array();
        json_object_set_new(root, "version", json_real(1.3));
        const double *kp = k->kp + (size_t)f * k->nkp * 3;
        int any = 0;
        for (int i = 0; i < k->nkp; i++)
            any |= kp[3 * i + 2] > 0;
        if (any) {
            json_t *p = json_object(), *pts = json_array(), *id = json_array();
            json_array_append_new(id, json_integer(-1));
            json_object_set_new(p, "person_id", id);
            for (int i = 0; i < 3 * k->nkp; i++)
                json_array_append_new(pts, json_real(round(kp[i] * 1000) / 1000));
            json_object_set_new(p, "pose_keypoints_2d", pts);
            const char *empty[] = {"face_keypoints_2d", "hand_left_keypoints_2d",
                                   "hand_right_keypoints_2d", "pose_keypoints_3d",
                                   "face_keypoints_3d", "hand_left_keypoints_3d",
                                   "hand_right_keypoints_3d"};
            for (int e = 0; e < 7; e++)
                json_object_set_new(p, empty[e], json_array());
            json_array_append_new(people, p);
        }
        json_object_set_new(root, "people", people);
        rc = geom_json_write(path, root, JSON_COMPACT | JSON_REAL_PRECISION(10), "openpose");
    }
    return rc;
}
