/*
 * capture_geom.c - the geometry steps of the capture service: saving a
 * session's calibration, triangulating a chunk group, self-calibration
 * from the session's keypoints, and 3D exports.
 *
 * Why here: geom/ works on arrays and calibration structs; this file maps
 * them onto the seed's files (calibration.npz beside the session, 3D under
 * processed/keypoints_3d/...).
 *
 * Ownership: every buffer is freed before return; km_calib structs are
 * released with km_calib_free.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kinema/geom.h"
#include "kinema/media.h"
#include "server/capture.h"

static km_skeleton skel_of(int nkp)
{
    return nkp == 33 ? KM_SKEL_BLAZEPOSE33 : KM_SKEL_COCO17;
}

static int load_calib(km_capture *c, const km_session_rec *r, km_calib *cal)
{
    char path[CAP_PATH];
    int rc = cap_calib_path(c, r->patient_id, r->session_id, "npz", path, sizeof path);
    if (!rc)
        rc = km_calib_read(path, cal);
    if (!rc && cal->ncams != r->cameras_count) {
        km_calib_free(cal);
        rc = km_seterr(KM_EINVAL, "calibration has %d cameras, the session %d", cal->ncams,
                       r->cameras_count);
    }
    return rc;
}

static int write_3d(km_capture *c, const km_session_rec *r, int64_t chunk, const double *X,
                    int nframes, int nkp)
{
    char dir[CAP_PATH], path[CAP_PATH + 64];
    int rc = cap_processed_dir(c, r->patient_id, r->session_id, dir, sizeof dir);
    for (int f = 0; !rc && f < nframes; f++) {
        km_array a = {KM_DT_F64, 2, {nkp, 3}, (void *)(X + (size_t)f * (size_t)nkp * 3)};
        snprintf(path, sizeof path, "%s/%d_%lld_3d.npy", dir, f, (long long)chunk);
        rc = cap_write_npy(path, &a);
    }
    if (!rc) {
        double dummy[3];
        km_array all = {KM_DT_F64, 3, {nframes, nkp, 3}, nframes ? (void *)X : dummy};
        snprintf(path, sizeof path, "%s/chunk_%lld_3d.npy", dir, (long long)chunk);
        rc = cap_write_npy(path, &all);
    }
    return rc;
}

int cap_triangulate_chunk(km_capture *c, const km_session_rec *r, int64_t chunk,
                          cap_cam_result *cams, int *nframes)
{
    *nframes = 0;
    if (!r->has_calibration)
        return KM_OK;
    km_calib cal = {0};
    int rc = load_calib(c, r, &cal);
    if (rc)
        return rc;
    int n = cams[0].nframes, nkp = cams[0].nkp;
    const double *views[KM_SERVE_MAX_CAMERAS];
    for (int i = 0; i < r->cameras_count; i++) {
        n = cams[i].nframes < n ? cams[i].nframes : n;
        views[i] = cams[i].kp;
    }
    km_triangulator *t = NULL;
    km_tri_opts o;
    km_tri_opts_default(&o);
    rc = km_triangulator_create(&cal, &o, &t);
    double *X = rc || n == 0 ? NULL : malloc((size_t)n * (size_t)nkp * 3 * sizeof(double));
    if (!rc && n && !X)
        rc = km_seterr(KM_ENOMEM, "out of memory");
    if (!rc && n)
        rc = km_triangulate_sequence(t, n, nkp, views, X, NULL, NULL, NULL);
    if (!rc)
        rc = write_3d(c, r, chunk, X, n, nkp);
    if (!rc)
        *nframes = n;
    free(X);
    km_triangulator_free(t);
    km_calib_free(&cal);
    return rc;
}

/* ---- calibration upload ---- */

/* Store cal as the session's calibration (.npz and .toml) and mark the
 * session as having one. cal is borrowed. */
static int store_calib(km_capture *c, const km_session_rec *r, const km_calib *cal)
{
    char npz[CAP_PATH], toml[CAP_PATH];
    int rc = cap_calib_path(c, r->patient_id, r->session_id, "npz", npz, sizeof npz);
    if (!rc)
        rc = cap_calib_path(c, r->patient_id, r->session_id, "toml", toml, sizeof toml);
    if (!rc)
        rc = km_calib_write_npz(npz, cal);
    if (!rc)
        rc = km_calib_write_toml(toml, cal);
    if (!rc)
        rc = km_store_session_set_calibration(c->store, r->patient_id, r->session_id, 1);
    return rc;
}

int cap_save_calibration(km_capture *c, const km_session_rec *r, const char *body, size_t len)
{
    const char *ext = len >= 2 && body[0] == 'P' && body[1] == 'K' ? "npz"
                      : len && body[strspn(body, " \t\r\n")] == '{' ? "json" : "toml";
    char tmp[CAP_PATH];
    snprintf(tmp, sizeof tmp, "%s/calib-%s-%s.%s", c->tmp_dir, r->patient_id, r->session_id,
             ext);
    int rc = km_write_file_atomic(tmp, body, len);
    km_calib cal = {0};
    if (!rc)
        rc = km_calib_read(tmp, &cal);
    unlink(tmp);
    if (rc)
        return km_seterr(KM_EFORMAT, "calibration (%s) rejected: %s", ext, km_errmsg());
    if (cal.ncams != r->cameras_count)
        rc = km_seterr(KM_EINVAL, "calibration has %d cameras, the session %d", cal.ncams,
                       r->cameras_count);
    if (!rc)
        rc = store_calib(c, r, &cal);
    km_calib_free(&cal);
    return rc;
}

/* ---- gathering the session's 2D / 3D arrays ---- */

/* Chunk numbers whose every camera is done. */
static int done_chunks(km_capture *c, const km_session_rec *r, int64_t **out, int *n)
{
    km_chunk_rec *ch = NULL;
    int nch = 0;
    int rc = km_store_chunk_list(c->store, r->patient_id, r->session_id, &ch, &nch);
    if (rc)
        return rc;
    int64_t *list = malloc(((size_t)nch + 1) * sizeof *list);
    int k = 0;
    for (int i = 0; list && i < nch;) {
        int j = i, done = 0;
        for (; j < nch && ch[j].chunk_number == ch[i].chunk_number; j++)
            done += !strcmp(ch[j].state, "done");
        if (done == r->cameras_count)
            list[k++] = ch[i].chunk_number;
        i = j;
    }
    free(ch);
    if (!list)
        return km_seterr(KM_ENOMEM, "out of memory");
    *out = list;
    *n = k;
    return KM_OK;
}

/* Append array a ([f,K,3]) to the growing buffer *seq of *frames frames. */
static int append(double **seq, int *frames, int *nkp, const km_array *a, int take)
{
    if (a->dtype != KM_DT_F64 || a->ndim != 3 || a->shape[2] != 3 ||
        (*nkp && a->shape[1] != *nkp) || take > a->shape[0])
        return km_seterr(KM_EFORMAT, "unexpected keypoint array shape");
    *nkp = (int)a->shape[1];
    size_t row = (size_t)*nkp * 3;
    double *s = realloc(*seq, ((size_t)*frames + (size_t)take + 1) * row * sizeof(double));
    if (!s)
        return km_seterr(KM_ENOMEM, "out of memory");
    memcpy(s + (size_t)*frames * row, a->data, (size_t)take * row * sizeof(double));
    *seq = s;
    *frames += take;
    return KM_OK;
}

static int read_chunk_arrays(km_capture *c, const km_session_rec *r, int64_t chunk,
                             km_array *arr)
{
    char dir[CAP_PATH], path[CAP_PATH + 64];
    int rc = KM_OK;
    for (int cam = 0; !rc && cam < r->cameras_count; cam++) {
        rc = cap_camera_dir(c, r->patient_id, r->session_id, cam, dir, sizeof dir);
        snprintf(path, sizeof path, "%s/ensemble/chunk_%lld.npy", dir, (long long)chunk);
        if (!rc)
            rc = km_npy_read(path, &arr[cam]);
    }
    return rc;
}

int cap_retriangulate(km_capture *c, const km_session_rec *r, int *groups)
{
    int64_t *chunks = NULL;
    int nchunks = 0;
    *groups = 0;
    km_session_rec now;
    int rc = km_store_session_get(c->store, r->patient_id, r->session_id, &now);
    if (!rc)
        rc = done_chunks(c, &now, &chunks, &nchunks);
    for (int i = 0; !rc && i < nchunks; i++) {
        km_array arr[KM_SERVE_MAX_CAMERAS];
        cap_cam_result res[KM_SERVE_MAX_CAMERAS];
        memset(arr, 0, sizeof arr);
        memset(res, 0, sizeof res);
        rc = read_chunk_arrays(c, &now, chunks[i], arr);
        for (int cam = 0; !rc && cam < now.cameras_count; cam++) {
            if (arr[cam].dtype != KM_DT_F64 || arr[cam].ndim != 3 || arr[cam].shape[2] != 3)
                rc = km_seterr(KM_EFORMAT, "unexpected ensemble array of chunk %lld",
                               (long long)chunks[i]);
            res[cam].nframes = (int)arr[cam].shape[0];
            res[cam].nkp = (int)arr[cam].shape[1];
            res[cam].kp = arr[cam].data;
        }
        int n3d = 0;
        if (!rc)
            rc = cap_triangulate_chunk(c, &now, chunks[i], res, &n3d);
        *groups += !rc;
        for (int cam = 0; cam < now.cameras_count; cam++)
            km_array_free(&arr[cam]);
    }
    free(chunks);
    return rc;
}

static double video_fps(km_capture *c, const km_session_rec *r, int64_t chunk, int *w, int *h)
{
    char path[CAP_PATH];
    km_video_info info;
    if (cap_chunk_path(c, r->patient_id, r->session_id, 0, chunk, path, sizeof path) ||
        km_probe(path, &info))
        return 30.0;
    if (w) {
        *w = info.width;
        *h = info.height;
    }
    return info.fps > 0 ? info.fps : 30.0;
}

/* Default intrinsics from the image size when no calibration exists. */
static void guess_intrinsics(km_calib *cal, int w, int h)
{
    for (int i = 0; i < cal->ncams; i++) {
        km_camera *k = &cal->cams[i];
        k->width = w;
        k->height = h;
        double f = 1.2 * (w > h ? w : h);
        double K[9] = {f, 0, w / 2.0, 0, f, h / 2.0, 0, 0, 1};
        memcpy(k->K, K, sizeof K);
    }
}

int cap_recalibrate(km_capture *c, const km_session_rec *r, json_t **report)
{
    int64_t *chunks = NULL;
    int nchunks = 0;
    int rc = done_chunks(c, r, &chunks, &nchunks);
    if (rc)
        return rc;
    double *views[KM_SERVE_MAX_CAMERAS] = {0};
    int frames[KM_SERVE_MAX_CAMERAS] = {0}, nkp = 0;
    for (int i = 0; !rc && i < nchunks; i++) {
        km_array arr[KM_SERVE_MAX_CAMERAS];
        memset(arr, 0, sizeof arr);
        rc = read_chunk_arrays(c, r, chunks[i], arr);
        int take = INT32_MAX;
        for (int cam = 0; !rc && cam < r->cameras_count; cam++)
            take = arr[cam].shape[0] < take ? (int)arr[cam].shape[0] : take;
        for (int cam = 0; !rc && cam < r->cameras_count; cam++)
            rc = append(&views[cam], &frames[cam], &nkp, &arr[cam], take);
        for (int cam = 0; cam < r->cameras_count; cam++)
            km_array_free(&arr[cam]);
    }
    int w = 0, h = 0;
    if (!rc && (nchunks == 0 || frames[0] == 0))
        rc = km_seterr(KM_EAGAIN, "no processed keypoints yet: upload and process chunks first");
    if (!rc)
        video_fps(c, r, chunks[0], &w, &h);
    km_calib cal = {0};
    if (!rc && (!r->has_calibration || load_calib(c, r, &cal) != KM_OK)) {
        rc = km_calib_alloc(&cal, r->cameras_count);
        if (!rc)
            guess_intrinsics(&cal, w, h);
    }
    km_selfcal_opts so;
    km_selfcal_opts_default(&so);
    km_selfcal_report rep;
    memset(&rep, 0, sizeof rep);
    if (!rc)
        rc = km_selfcal(&cal, skel_of(nkp), frames[0], (const double *const *)views, &so, &rep);
    if (!rc)
        rc = store_calib(c, r, &cal);
    if (!rc)
        *report = json_pack("{s:i, s:i, s:f, s:i, s:f}", "cameras", rep.ncams, "frames",
                            frames[0], "rms_px", rep.rms_all_px, "points", rep.npoints,
                            "scale", rep.scale);
    km_calib_free(&cal);
    for (int cam = 0; cam < KM_SERVE_MAX_CAMERAS; cam++)
        free(views[cam]);
    free(chunks);
    return rc;
}

int cap_export_3d(km_capture *c, const km_session_rec *r, const char *fmt, char *out_path,
                  size_t cap)
{
    km_export_format ef = !strcmp(fmt, "npy") ? KM_EXPORT_NPY
                          : !strcmp(fmt, "trc") ? KM_EXPORT_TRC
                          : !strcmp(fmt, "c3d") ? KM_EXPORT_C3D : KM_EXPORT_UNKNOWN;
    if (ef == KM_EXPORT_UNKNOWN)
        return km_seterr(KM_EINVAL, "format must be npy, trc or c3d");
    int64_t *chunks = NULL;
    int nchunks = 0;
    int rc = done_chunks(c, r, &chunks, &nchunks);
    char dir[CAP_PATH], path[CAP_PATH + 64];
    double *seq = NULL;
    int frames = 0, nkp = 0;
    if (!rc)
        rc = cap_processed_dir(c, r->patient_id, r->session_id, dir, sizeof dir);
    for (int i = 0; !rc && i < nchunks; i++) {
        km_array a = {0};
        snprintf(path, sizeof path, "%s/chunk_%lld_3d.npy", dir, (long long)chunks[i]);
        if (access(path, F_OK) != 0)
            continue;
        rc = km_npy_read(path, &a);
        if (!rc)
            rc = append(&seq, &frames, &nkp, &a, (int)a.shape[0]);
        km_array_free(&a);
    }
    if (!rc && frames == 0)
        rc = km_seterr(KM_ENOTFOUND, "no 3D keypoints yet (needs a calibration and processed chunks)");
    if (!rc && (size_t)snprintf(out_path, cap, "%s/session_3d.%s", dir, fmt) >= cap)
        rc = km_seterr(KM_ERANGE, "path too long");
    const char *names[KM_POSE_MAX_KP];
    for (int k = 0; !rc && k < nkp; k++)
        names[k] = km_skeleton_name(skel_of(nkp), k);
    if (!rc)
        rc = km_export_3d(out_path, ef, seq, frames, nkp, names,
                          video_fps(c, r, chunks[0], NULL, NULL));
    free(seq);
    free(chunks);
    return rc;
}
