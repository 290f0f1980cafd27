/*
 * calibio.c - calibration files: TOML (Pose2Sim / anipose convention),
 * .npz (stacked arrays, see docs/formats-calibration.md) and JSON.
 *
 * Why three: TOML is what the open-source mocap tools exchange, .npz is
 * what the seed's server stores and numpy users load, JSON is what web
 * clients want. All three carry the same fields per camera: name, image
 * size, 3x3 matrix, distortions (k1 k2 p1 p2 k3; 4 accepted on read with
 * k3 = 0), Rodrigues rotation and translation (world -> camera, metres).
 * Readers validate every field and name the file, camera and field in
 * errors; writers are atomic.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kinema/geom.h"
#include "geom/jsonout.h"
#include "geom/toml.h"

#define CALIB_MAX_FILE (16u << 20)

static const char *ext_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    return dot && (!slash || dot > slash) ? dot + 1 : "";
}

int km_calib_read(const char *path, km_calib *out)
{
    const char *e = ext_of(path);
    if (strcasecmp(e, "toml") == 0)
        return km_calib_read_toml(path, out);
    if (strcasecmp(e, "npz") == 0)
        return km_calib_read_npz(path, out);
    if (strcasecmp(e, "json") == 0)
        return km_calib_read_json(path, out);
    memset(out, 0, sizeof *out);
    return km_seterr(KM_EUNSUPPORTED, "%s: calibration must be .toml, .npz or .json", path);
}

int km_calib_write(const char *path, const km_calib *c)
{
    const char *e = ext_of(path);
    if (strcasecmp(e, "toml") == 0)
        return km_calib_write_toml(path, c);
    if (strcasecmp(e, "npz") == 0)
        return km_calib_write_npz(path, c);
    if (strcasecmp(e, "json") == 0)
        return km_calib_write_json(path, c);
    return km_seterr(KM_EUNSUPPORTED, "%s: calibration must be .toml, .npz or .json", path);
}

/* Shared validation of a filled camera. */
static int check_camera(const char *src, const km_camera *c)
{
    if (c->width < 1 || c->height < 1 || c->width > 100000 || c->height > 100000)
        return km_seterr(KM_EFORMAT, "%s: camera '%s': size must be 1..100000 pixels", src,
                         c->name);
    if (!(c->K[0] > 0 && c->K[4] > 0) || c->K[3] != 0 || c->K[6] != 0 || c->K[7] != 0 ||
        c->K[8] != 1)
        return km_seterr(KM_EFORMAT,
                         "%s: camera '%s': matrix must be [[fx,s,cx],[0,fy,cy],[0,0,1]] "
                         "with fx, fy > 0",
                         src, c->name);
    for (int i = 0; i < 9; i++)
        if (!isfinite(c->K[i]))
            return km_seterr(KM_EFORMAT, "%s: camera '%s': matrix has a non-finite value",
                             src, c->name);
    for (int i = 0; i < 5; i++)
        if (!isfinite(c->dist[i]))
            return km_seterr(KM_EFORMAT, "%s: camera '%s': distortions not finite", src,
                             c->name);
    for (int i = 0; i < 3; i++)
        if (!isfinite(c->rvec[i]) || !isfinite(c->t[i]))
            return km_seterr(KM_EFORMAT, "%s: camera '%s': pose not finite", src, c->name);
    return 0;
}

/* ----------------------------------------------------------------- TOML */

static int toml_numbers(const char *src, const char *cam, const char *field,
                        const toml_value *v, int minn, int maxn, double *out)
{
    if (!v)
        return km_seterr(KM_EFORMAT, "%s: [%s]: missing field '%s'", src, cam, field);
    if (v->type != TOML_ARRAY || v->n < minn || v->n > maxn)
        return km_seterr(KM_EFORMAT, "%s:%d: [%s] %s: expected an array of %d%s numbers", src,
                         v->line, cam, field, minn, maxn > minn ? " or more" : "");
    for (int i = 0; i < v->n; i++) {
        if (v->items[i].type != TOML_NUMBER)
            return km_seterr(KM_EFORMAT, "%s:%d: [%s] %s[%d]: expected a number", src,
                             v->items[i].line, cam, field, i);
        out[i] = v->items[i].num;
    }
    return 0;
}

static int toml_camera(const char *src, const toml_table *t, km_camera *c)
{
    const char *tn = t->name;
    double size[2], d[5] = {0};
    const toml_value *name = toml_get(t, "name");
    if (name && name->type != TOML_STRING)
        return km_seterr(KM_EFORMAT, "%s:%d: [%s] name: expected a string", src, name->line, tn);
    snprintf(c->name, sizeof c->name, "%s", name ? name->str : tn);
    int rc = toml_numbers(src, tn, "size", toml_get(t, "size"), 2, 2, size);
    if (rc)
        return rc;
    if (!(size[0] >= 1 && size[0] <= 100000 && size[1] >= 1 && size[1] <= 100000))
        return km_seterr(KM_EFORMAT, "%s: [%s] size: must be 1..100000 pixels", src, tn);
    c->width = (int)lround(size[0]);
    c->height = (int)lround(size[1]);
    const toml_value *m = toml_get(t, "matrix");
    if (!m)
        return km_seterr(KM_EFORMAT, "%s: [%s]: missing field 'matrix'", src, tn);
    if (m->type != TOML_ARRAY || m->n != 3)
        return km_seterr(KM_EFORMAT, "%s:%d: [%s] matrix: expected 3 rows", src, m->line, tn);
    for (int r = 0; r < 3; r++)
        if ((rc = toml_numbers(src, tn, "matrix row", &m->items[r], 3, 3, &c->K[3 * r])))
            return rc;
    const toml_value *dv = toml_get(t, "distortions");
    if (dv && dv->type == TOML_ARRAY && dv->n == 1 && dv->items[0].type == TOML_ARRAY)
        dv = &dv->items[0]; /* anipose may nest [[k1, k2, p1, p2, k3]] */
    if ((rc = toml_numbers(src, tn, "distortions", dv, 4, 5, d)))
        return rc;
    memcpy(c->dist, d, sizeof d);
    if ((rc = toml_numbers(src, tn, "rotation", toml_get(t, "rotation"), 3, 3, c->rvec)))
        return rc;
    if ((rc = toml_numbers(src, tn, "translation", toml_get(t, "translation"), 3, 3, c->t)))
        return rc;
    const toml_value *fe = toml_get(t, "fisheye");
    if (fe && fe->type != TOML_BOOL)
        return km_seterr(KM_EFORMAT, "%s:%d: [%s] fisheye: expected true or false", src,
                         fe->line, tn);
    if (fe && fe->boolean)
        return km_seterr(KM_EUNSUPPORTED, "%s: [%s]: fisheye cameras are not supported", src,
                         tn);
    km_camera_update(c);
    return check_camera(src, c);
}

int km_calib_parse_toml(const char *text, size_t len, const char *src, km_calib *out)
{
    memset(out, 0, sizeof *out);
    toml_doc d;
    int rc = toml_parse(text, len, src, &d);
    if (rc)
        return rc;
    int n = 0;
    for (int i = 1; i < d.n; i++)
        if (toml_get(&d.tables[i], "matrix"))
            n++;
    if (n == 0) {
        toml_free(&d);
        return km_seterr(KM_EFORMAT, "%s: no camera table (a table with 'matrix')", src);
    }
    if (n > KM_GEOM_MAX_CAMERAS) {
        toml_free(&d);
        return km_seterr(KM_ERANGE, "%s: %d cameras, at most %d supported", src, n,
                         KM_GEOM_MAX_CAMERAS);
    }
    rc = km_calib_alloc(out, n);
    for (int i = 1, c = 0; rc == 0 && i < d.n; i++)
        if (toml_get(&d.tables[i], "matrix"))
            rc = toml_camera(src, &d.tables[i], &out->cams[c++]);
    toml_free(&d);
    if (rc)
        km_calib_free(out);
    return rc;
}

int km_calib_read_toml(const char *path, km_calib *out)
{
    uint8_t *data = NULL;
    size_t len = 0;
    memset(out, 0, sizeof *out);
    int rc = km_read_file(path, CALIB_MAX_FILE, &data, &len);
    if (rc)
        return rc;
    rc = km_calib_parse_toml((const char *)data, len, path, out);
    free(data);
    return rc;
}

/* Shortest text that reads back to exactly v, always with a '.' or 'e'
 * so TOML readers see a float. */
static void fmt_double(char *buf, size_t cap, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".eEni"))
        strncat(buf, ".0", cap - strlen(buf) - 1);
}

static void put_list(FILE *f, const double *v, int n)
{
    char b[40];
    fputs("[ ", f);
    for (int i = 0; i < n; i++) {
        fmt_double(b, sizeof b, v[i]);
        fprintf(f, "%s%s", b, i + 1 < n ? ", " : "]");
    }
}

static void toml_section_name(const km_camera *c, int idx, char *out, size_t cap)
{
    size_t n = strlen(c->name);
    int ok = n > 0;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)c->name[i]) || c->name[i] == '_' || c->name[i] == '-'))
            ok = 0;
    if (ok)
        snprintf(out, cap, "%s", c->name);
    else
        snprintf(out, cap, "cam_%02d", idx + 1);
}

int km_calib_write_toml(const char *path, const km_calib *c)
{
    km_afile *af = NULL;
    int rc = km_afile_open(&af, path);
    if (rc)
        return rc;
    FILE *f = km_afile_stream(af);
    char sec[KM_CAM_NAME_MAX + 8];
    for (int i = 0; i < c->ncams; i++) {
        const km_camera *k = &c->cams[i];
        toml_section_name(k, i, sec, sizeof sec);
        /* section names must be unique: fall back to the index on clash */
        for (int j = 0; j < i; j++) {
            char other[KM_CAM_NAME_MAX + 8];
            toml_section_name(&c->cams[j], j, other, sizeof other);
            if (strcmp(other, sec) == 0)
                snprintf(sec, sizeof sec, "cam_%02d", i + 1);
        }
        double size[2] = {k->width, k->height};
        fprintf(f, "[%s]\nname = ", sec);
        km_fput_json_string(f, k->name);
        fputs("\nsize = ", f);
        put_list(f, size, 2);
        fputs("\nmatrix = [ ", f);
        for (int r = 0; r < 3; r++) {
            put_list(f, &k->K[3 * r], 3);
            fputs(r < 2 ? ", " : "]", f);
        }
        fputs("\ndistortions = ", f);
        put_list(f, k->dist, 5);
        fputs("\nrotation = ", f);
        put_list(f, k->rvec, 3);
        fputs("\ntranslation = ", f);
        put_list(f, k->t, 3);
        fputs("\nfisheye = false\n\n", f);
    }
    fputs("[metadata]\nadjusted = false\nerror = 0.0\n", f);
    if (ferror(f)) {
        km_afile_abort(af);
        return km_seterr(KM_EIO, "%s: write failed", path);
    }
    return km_afile_commit(af);
}

/* ------------------------------------------------------------------ npz */

enum { NPZ_NAME_LEN = 64 };

int km_calib_write_npz(const char *path, const km_calib *c)
{
    int n = c->ncams;
    km_array a[7];
    memset(a, 0, sizeof a);
    int64_t s_names[2] = {n, NPZ_NAME_LEN}, s_K[3] = {n, 3, 3}, s_dist[2] = {n, 5},
            s_vec[2] = {n, 3}, s_size[2] = {n, 2};
    int rc = km_array_alloc(&a[0], KM_DT_U8, 2, s_names);
    if (!rc) rc = km_array_alloc(&a[1], KM_DT_I32, 2, s_size);
    if (!rc) rc = km_array_alloc(&a[2], KM_DT_F64, 3, s_K);
    if (!rc) rc = km_array_alloc(&a[3], KM_DT_F64, 2, s_dist);
    if (!rc) rc = km_array_alloc(&a[4], KM_DT_F64, 2, s_vec);
    if (!rc) rc = km_array_alloc(&a[5], KM_DT_F64, 2, s_vec);
    if (!rc) rc = km_array_alloc(&a[6], KM_DT_F64, 3, s_K);
    if (!rc) {
        for (int i = 0; i < n; i++) {
            const km_camera *k = &c->cams[i];
            double R[9];
            km_rodrigues(k->rvec, R);
            memcpy((char *)a[0].data + (size_t)i * NPZ_NAME_LEN, k->name,
                   strnlen(k->name, NPZ_NAME_LEN - 1));
            ((int32_t *)a[1].data)[2 * i] = k->width;
            ((int32_t *)a[1].data)[2 * i + 1] = k->height;
            memcpy((double *)a[2].data + 9 * i, k->K, 9 * sizeof(double));
            memcpy((double *)a[3].data + 5 * i, k->dist, 5 * sizeof(double));
            memcpy((double *)a[4].data + 3 * i, k->rvec, 3 * sizeof(double));
            memcpy((double *)a[5].data + 3 * i, k->t, 3 * sizeof(double));
            memcpy((double *)a[6].data + 9 * i, R, 9 * sizeof(double));
        }
        const char *names[7] = {"names", "image_size", "camera_matrix", "dist_coeffs",
                                "rvec", "tvec", "rotation_matrix"};
        rc = km_npz_write(path, 7, names, a);
    }
    for (int i = 0; i < 7; i++)
        km_array_free(&a[i]);
    return rc;
}

/* Copy member `name` as doubles; it must have shape [n, inner...] with
 * `count` values per camera (shape checked by the product). */
static int npz_doubles(const char *path, const km_npz *z, const char *name, int n, int count,
                       int required, double *out, int *found)
{
    const km_array *a = km_npz_get(z, name);
    if (found)
        *found = a != NULL;
    if (!a)
        return required ? km_seterr(KM_EFORMAT, "%s: missing array '%s'", path, name) : 0;
    if (a->ndim < 1 || a->shape[0] != n || km_array_count(a) != (int64_t)n * count)
        return km_seterr(KM_EFORMAT, "%s: array '%s' must hold %d values per camera for %d "
                                     "cameras",
                         path, name, count, n);
    for (int64_t i = 0; i < (int64_t)n * count; i++) {
        switch (a->dtype) {
        case KM_DT_F64: out[i] = ((const double *)a->data)[i]; break;
        case KM_DT_F32: out[i] = ((const float *)a->data)[i]; break;
        case KM_DT_I32: out[i] = ((const int32_t *)a->data)[i]; break;
        case KM_DT_I64: out[i] = (double)((const int64_t *)a->data)[i]; break;
        case KM_DT_U8: out[i] = ((const uint8_t *)a->data)[i]; break;
        }
    }
    return 0;
}

static int npz_fill(const char *path, const km_npz *z, km_calib *out)
{
    const km_array *K = km_npz_get(z, "camera_matrix");
    if (!K)
        return km_seterr(KM_EFORMAT, "%s: missing array 'camera_matrix' [n,3,3]", path);
    if (K->ndim != 3 || K->shape[1] != 3 || K->shape[2] != 3 || K->shape[0] < 1 ||
        K->shape[0] > KM_GEOM_MAX_CAMERAS)
        return km_seterr(KM_EFORMAT, "%s: 'camera_matrix' must be [n,3,3] with n in 1..%d",
                         path, KM_GEOM_MAX_CAMERAS);
    int n = (int)K->shape[0];
    int rc = km_calib_alloc(out, n);
    if (rc)
        return rc;
    double *buf = calloc((size_t)n * 9, sizeof *buf);
    if (!buf)
        return km_seterr(KM_ENOMEM, "out of memory");
    int has_rvec = 0, has_R = 0;
    const km_array *dist = km_npz_get(z, "dist_coeffs");
    int nd = dist && dist->ndim == 2 && dist->shape[1] == 4 ? 4 : 5;
    if ((rc = npz_doubles(path, z, "camera_matrix", n, 9, 1, buf, NULL)) == 0)
        for (int i = 0; i < n; i++)
            memcpy(out->cams[i].K, buf + 9 * i, 9 * sizeof(double));
    if (!rc && (rc = npz_doubles(path, z, "dist_coeffs", n, nd, 1, buf, NULL)) == 0)
        for (int i = 0; i < n; i++)
            memcpy(out->cams[i].dist, buf + nd * i, (size_t)nd * sizeof(double));
    if (!rc && (rc = npz_doubles(path, z, "tvec", n, 3, 1, buf, NULL)) == 0)
        for (int i = 0; i < n; i++)
            memcpy(out->cams[i].t, buf + 3 * i, 3 * sizeof(double));
    if (!rc && (rc = npz_doubles(path, z, "image_size", n, 2, 1, buf, NULL)) == 0)
        for (int i = 0; i < n; i++) {
            out->cams[i].width = (int)lround(fmin(fmax(buf[2 * i], 0), 1e6));
            out->cams[i].height = (int)lround(fmin(fmax(buf[2 * i + 1], 0), 1e6));
        }
    if (!rc && (rc = npz_doubles(path, z, "rvec", n, 3, 0, buf, &has_rvec)) == 0 && has_rvec)
        for (int i = 0; i < n; i++)
            memcpy(out->cams[i].rvec, buf + 3 * i, 3 * sizeof(double));
    if (!rc && !has_rvec &&
        (rc = npz_doubles(path, z, "rotation_matrix", n, 9, 0, buf, &has_R)) == 0 && has_R)
        for (int i = 0; i < n; i++)
            km_rodrigues_inv(buf + 9 * i, out->cams[i].rvec);
    if (!rc && !has_rvec && !has_R)
        rc = km_seterr(KM_EFORMAT, "%s: missing array 'rvec' (or 'rotation_matrix')", path);
    free(buf);
    const km_array *names = km_npz_get(z, "names");
    if (!rc && names) {
        if (names->dtype != KM_DT_U8 || names->ndim != 2 || names->shape[0] != n ||
            names->shape[1] < 1 || names->shape[1] > 4096)
            rc = km_seterr(KM_EFORMAT, "%s: 'names' must be uint8 [n, L] (NUL-padded)", path);
        else
            for (int i = 0; i < n; i++) {
                const char *s = (const char *)names->data + (size_t)i * names->shape[1];
                size_t L = strnlen(s, (size_t)names->shape[1]);
                if (L >= KM_CAM_NAME_MAX)
                    L = KM_CAM_NAME_MAX - 1;
                if (L > 0) {
                    memcpy(out->cams[i].name, s, L);
                    out->cams[i].name[L] = '\0';
                }
            }
    }
    for (int i = 0; !rc && i < n; i++) {
        km_camera_update(&out->cams[i]);
        rc = check_camera(path, &out->cams[i]);
    }
    return rc;
}

int km_calib_read_npz(const char *path, km_calib *out)
{
    km_npz z;
    memset(out, 0, sizeof *out);
    int rc = km_npz_read(path, &z);
    if (rc)
        return rc;
    rc = npz_fill(path, &z, out);
    km_npz_free(&z);
    if (rc)
        km_calib_free(out);
    return rc;
}

/* ----------------------------------------------------------------- JSON */

static json_t *json_list(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_real(v[i]));
    return a;
}

int km_calib_write_json(const char *path, const km_calib *c)
{
    json_t *root = json_object(), *cams = json_array();
    json_object_set_new(root, "format", json_string("kinema-calibration"));
    json_object_set_new(root, "version", json_integer(1));
    for (int i = 0; i < c->ncams; i++) {
        const km_camera *k = &c->cams[i];
        json_t *o = json_object(), *m = json_array();
        json_object_set_new(o, "name", json_string(k->name));
        json_t *sz = json_array();
        json_array_append_new(sz, json_integer(k->width));
        json_array_append_new(sz, json_integer(k->height));
        json_object_set_new(o, "size", sz);
        for (int r = 0; r < 3; r++)
            json_array_append_new(m, json_list(&k->K[3 * r], 3));
        json_object_set_new(o, "matrix", m);
        json_object_set_new(o, "distortions", json_list(k->dist, 5));
        json_object_set_new(o, "rotation", json_list(k->rvec, 3));
        json_object_set_new(o, "translation", json_list(k->t, 3));
        json_object_set_new(o, "fisheye", json_false());
        json_array_append_new(cams, o);
    }
    json_object_set_new(root, "cameras", cams);
    return geom_json_write(path, root, JSON_INDENT(2) | JSON_REAL_PRECISION(17), path);
}

static int json_numbers(const char *src, int cam, const char *field, json_t *v, int minn,
                        int maxn, double *out)
{
    if (!v)
        return km_seterr(KM_EFORMAT, "%s: cameras[%d]: missing field '%s'", src, cam, field);
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (!json_is_array(v) || n < (size_t)minn || n > (size_t)maxn)
        return km_seterr(KM_EFORMAT, "%s: cameras[%d].%s: expected an array of %d numbers",
                         src, cam, field, maxn);
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(v, i);
        if (!json_is_number(x))
            return km_seterr(KM_EFORMAT, "%s: cameras[%d].%s[%zu]: expected a number", src,
                             cam, field, i);
        out[i] = json_number_value(x);
    }
    return 0;
}

static int json_camera(const char *src, int i, json_t *o, km_camera *c)
{
    if (!json_is_object(o))
        return km_seterr(KM_EFORMAT, "%s: cameras[%d]: expected an object", src, i);
    json_t *name = json_object_get(o, "name");
    if (name && !json_is_string(name))
        return km_seterr(KM_EFORMAT, "%s: cameras[%d].name: expected a string", src, i);
    if (name)
        snprintf(c->name, sizeof c->name, "%s", json_string_value(name));
    double size[2], d[5] = {0};
    int rc = json_numbers(src, i, "size", json_object_get(o, "size"), 2, 2, size);
    if (rc)
        return rc;
    if (!(size[0] >= 1 && size[0] <= 100000 && size[1] >= 1 && size[1] <= 100000))
        return km_seterr(KM_EFORMAT, "%s: cameras[%d].size: must be 1..100000", src, i);
    c->width = (int)lround(size[0]);
    c->height = (int)lround(size[1]);
    json_t *m = json_object_get(o, "matrix");
    if (!json_is_array(m) || json_array_size(m) != 3)
        return km_seterr(KM_EFORMAT, "%s: cameras[%d].matrix: expected 3 rows", src, i);
    for (int r = 0; r < 3; r++)
        if ((rc = json_numbers(src, i, "matrix[row]", json_array_get(m, (size_t)r), 3, 3,
                               &c->K[3 * r])))
            return rc;
    if ((rc = json_numbers(src, i, "distortions", json_object_get(o, "distortions"), 4, 5, d)))
        return rc;
    memcpy(c->dist, d, sizeof d);
    if ((rc = json_numbers(src, i, "rotation", json_object_get(o, "rotation"), 3, 3, c->rvec)))
        return rc;
    if ((rc = json_numbers(src, i, "translation", json_object_get(o, "translation"), 3, 3,
                           c->t)))
        return rc;
    json_t *fe = json_object_get(o, "fisheye");
    if (fe && json_is_true(fe))
        return km_seterr(KM_EUNSUPPORTED, "%s: cameras[%d]: fisheye is not supported", src, i);
    km_camera_update(c);
    return check_camera(src, c);
}

int km_calib_read_json(const char *path, km_calib *out)
{
    uint8_t *data = NULL;
    size_t len = 0;
    memset(out, 0, sizeof *out);
    int rc = km_read_file(path, CALIB_MAX_FILE, &data, &len);
    if (rc)
        return rc;
    json_error_t err;
    json_t *root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &err);
    free(data);
    if (!root)
        return km_seterr(KM_EFORMAT, "%s:%d:%d: %s", path, err.line, err.column, err.text);
    json_t *cams = json_object_get(root, "cameras");
    size_t n = json_is_array(cams) ? json_array_size(cams) : 0;
    if (n < 1 || n > KM_GEOM_MAX_CAMERAS) {
        json_decref(root);
        return km_seterr(KM_EFORMAT, "%s: 'cameras' must be an array of 1..%d cameras", path,
                         KM_GEOM_MAX_CAMERAS);
    }
    rc = km_calib_alloc(out, (int)n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = json_camera(path, (int)i, json_array_get(cams, i), &out->cams[i]);
    json_decref(root);
    if (rc)
        km_calib_free(out);
    return rc;
}
