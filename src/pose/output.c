/*
 * output.c - writing pose results as JSON, CSV or NumPy .npy.
 *
 * JSON and CSV stream one frame at a time (a long video never sits in
 * memory); NPY needs its shape up front, so it keeps compact per-person
 * records (bounded) until close. Files go through km_afile: a failed run
 * leaves no partial output. The JSON schema is documented in
 * docs/formats.md.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kinema/pose.h"

#define NPY_MAX_RECORDS (1 << 19)   /* persons kept for .npy (~210 MB max) */
#define NPY_MAX_IDS 1024            /* person axis when indexed by track id */

typedef struct {
    int64_t frame;
    int slot;
    float kp[KM_POSE_MAX_KP][3];
} npy_rec;

struct km_pose_writer {
    km_pose_out_fmt fmt;
    km_afile *af;                /* NULL when writing to stdout */
    FILE *f;
    int own_f;                   /* f is a plain fopen (device, pipe) */
    km_kp_format format;
    int nkp;
    int64_t frames;              /* frames written */
    npy_rec *recs;
    size_t nrec, caprec;
    int max_slot;
};

static void json_num(FILE *f, double v, int prec)
{
    if (isfinite(v))
        fprintf(f, "%.*f", prec, v);
    else
        fputs("null", f);
}

static void write_header(km_pose_writer *w, const km_pose_stream_info *in)
{
    FILE *f = w->f;
    if (w->fmt == KM_POSE_OUT_CSV) {
        fputs("frame,timestamp,id,person_score,keypoint,name,x,y,score\n", f);
        return;
    }
    if (w->fmt != KM_POSE_OUT_JSON)
        return;
    fputs("{\"input\":", f);
    km_fput_json_string(f, in->input);
    fprintf(f, ",\"width\":%d,\"height\":%d,\"fps\":", in->width, in->height);
    json_num(f, in->fps, 3);
    fputs(",\"models\":[", f);
    for (int i = 0; i < in->nmodels; i++) {
        if (i)
            fputc(',', f);
        km_fput_json_string(f, in->models[i]);
    }
    fprintf(f, "],\"keypoint_format\":\"%s\",\"keypoint_names\":[", km_kp_format_name(in->format));
    for (int k = 0; k < w->nkp; k++)
        fprintf(f, "%s\"%s\"", k ? "," : "", km_kp_name(in->format, k));
    fputs("],\"frames\":[", f);
}

int km_pose_writer_open(km_pose_writer **out, const char *path, km_pose_out_fmt fmt,
                        const km_pose_stream_info *info)
{
    *out = NULL;
    km_pose_writer *w = calloc(1, sizeof *w);
    if (!w)
        return km_seterr(KM_ENOMEM, "pose writer: out of memory");
    w->fmt = fmt;
    w->format = info->format;
    w->nkp = km_kp_count(info->format);
    struct stat st;
    if (!path || strcmp(path, "-") == 0) {
        w->f = stdout;
    } else if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        /* a device or pipe (/dev/null, a FIFO): write straight to it */
        w->f = fopen(path, "w");
        if (!w->f) {
            free(w);
            return km_seterr(KM_EIO, "%s: cannot open for writing", path);
        }
        w->own_f = 1;
    } else {
        int rc = km_afile_open(&w->af, path);
        if (rc) {
            free(w);
            return rc;
        }
        w->f = km_afile_stream(w->af);
    }
    write_header(w, info);
    *out = w;
    return 0;
}

static void json_person(FILE *f, const km_person *p, int nkp)
{
    fprintf(f, "{\"id\":%d,\"score\":", p->id);
    json_num(f, p->score, 4);
    fputs(",\"bbox\":[", f);
    for (int q = 0; q < 4; q++) {
        if (q)
            fputc(',', f);
        json_num(f, p->bbox[q], 2);
    }
    fputs("],\"keypoints\":[", f);
    for (int k = 0; k < nkp; k++) {
        fputs(k ? ",[" : "[", f);
        json_num(f, p->kp[k].x, 2);
        fputc(',', f);
        json_num(f, p->kp[k].y, 2);
        fputc(',', f);
        json_num(f, p->kp[k].score, 4);
        fputc(']', f);
    }
    fputs("],\"keypoints_3d\":", f);
    if (p->has_3d) {
        fputc('[', f);
        for (int k = 0; k < nkp; k++) {
            fputs(k ? ",[" : "[", f);
            for (int d = 0; d < 3; d++) {
                if (d)
                    fputc(',', f);
                json_num(f, p->world[k][d], 4);
            }
            fputc(']', f);
        }
        fputc(']', f);
    } else {
        fputs("null", f);
    }
    int fused = 0;
    for (int k = 0; k < nkp; k++)
        fused |= p->nmodels[k] > 0;
    if (fused) {
        fputs(",\"keypoint_spread\":[", f);
        for (int k = 0; k < nkp; k++) {
            if (k)
                fputc(',', f);
            json_num(f, p->spread[k], 2);
        }
        fputc(']', f);
    }
    fputc('}', f);
}

static int npy_add(km_pose_writer *w, int64_t frame, const km_pose_result *r)
{
    for (int i = 0; i < r->n; i++) {
        if (w->nrec == w->caprec) {
            if (w->caprec >= NPY_MAX_RECORDS)
                return km_seterr(KM_ENOMEM, "pose writer: more than %d persons for .npy", NPY_MAX_RECORDS);
            size_t nc = w->caprec ? 2 * w->caprec : 256;
            npy_rec *nr = realloc(w->recs, nc * sizeof *nr);
            if (!nr)
                return km_seterr(KM_ENOMEM, "pose writer: out of memory");
            w->recs = nr;
            w->caprec = nc;
        }
        const km_person *p = &r->p[i];
        npy_rec *rec = &w->recs[w->nrec++];
        rec->frame = frame;
        rec->slot = p->id >= 0 && p->id < NPY_MAX_IDS ? p->id : i;
        if (rec->slot > w->max_slot)
            w->max_slot = rec->slot;
        for (int k = 0; k < w->nkp; k++) {
            rec->kp[k][0] = p->kp[k].x;
            rec->kp[k][1] = p->kp[k].y;
            rec->kp[k][2] = p->kp[k].score;
        }
    }
    return 0;
}

int km_pose_writer_frame(km_pose_writer *w, int64_t frame, double timestamp,
                         const km_pose_result *r)
{
    FILE *f = w->f;
    if (w->fmt == KM_POSE_OUT_NPY) {
        w->frames = frame + 1 > w->frames ? frame + 1 : w->frames;
        return npy_add(w, frame, r);
    }
    if (w->fmt == KM_POSE_OUT_CSV) {
        for (int i = 0; i < r->n; i++)
            for (int k = 0; k < w->nkp; k++) {
                const km_person *p = &r->p[i];
                fprintf(f, "%lld,%.6f,%d,%.4f,%d,%s,%.2f,%.2f,%.4f\n", (long long)frame,
                        timestamp, p->id, p->score, k, km_kp_name(w->format, k),
                        p->kp[k].x, p->kp[k].y, p->kp[k].score);
            }
    } else {
        fprintf(f, "%s{\"frame\":%lld,\"timestamp\":", w->frames ? "," : "", (long long)frame);
        json_num(f, timestamp, 6);
        fputs(",\"persons\":[", f);
        for (int i = 0; i < r->n; i++) {
            if (i)
                fputc(',', f);
            json_person(f, &r->p[i], w->nkp);
        }
        fputs("]}\n", f);
    }
    w->frames++;
    return ferror(f) ? km_seterr(KM_EIO, "pose writer: write failed") : 0;
}

static int npy_finish(km_pose_writer *w)
{
    km_array a;
    int64_t shape[4] = {w->frames, (int64_t)w->max_slot + 1, w->nkp, 3};
    int rc = km_array_alloc(&a, KM_DT_F32, 4, shape);
    if (rc)
        return rc;
    float *d = a.data;
    for (int64_t i = 0; i < km_array_count(&a); i++)
        d[i] = NAN;
    for (size_t r = 0; r < w->nrec; r++) {
        float *dst = d + (((size_t)w->recs[r].frame * (size_t)shape[1] + (size_t)w->recs[r].slot) *
                          (size_t)w->nkp) * 3;
        memcpy(dst, w->recs[r].kp, sizeof(float) * 3 * (size_t)w->nkp);
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    rc = km_npy_encode(&a, &buf, &len);
    km_array_free(&a);
    if (rc)
        return rc;
    if (fwrite(buf, 1, len, w->f) != len)
        rc = km_seterr(KM_EIO, "pose writer: write failed");
    free(buf);
    return rc;
}

int km_pose_writer_close(km_pose_writer *w)
{
    int rc = 0;
    if (w->fmt == KM_POSE_OUT_JSON)
        fputs("]}\n", w->f);
    else if (w->fmt == KM_POSE_OUT_NPY)
        rc = npy_finish(w);
    if (rc == 0 && (fflush(w->f) != 0 || ferror(w->f)))
        rc = km_seterr(KM_EIO, "pose writer: write failed");
    if (w->af) {
        if (rc)
            km_afile_abort(w->af);
        else
            rc = km_afile_commit(w->af);
    }
    if (w->own_f && fclose(w->f) != 0 && rc == 0)
        rc = km_seterr(KM_EIO, "pose writer: close failed");
    free(w->recs);
    free(w);
    return rc;
}

void km_pose_writer_abort(km_pose_writer *w)
{
    if (!w)
        return;
    if (w->af)
        km_afile_abort(w->af);
    else if (w->own_f)
        fclose(w->f);
    else
        fflush(w->f);
    free(w->recs);
    free(w);
}
