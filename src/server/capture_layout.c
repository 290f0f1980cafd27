/*
 * capture_layout.c - where the capture service's files live (the seed's
 * layout), and the service's life cycle.
 *
 * Why: every path is built here from validated ids, so no other file
 * concatenates client input into paths. Ids are re-checked with km_id_ok
 * so a bug upstream cannot become a traversal.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/capture.h"

static int fit(int n, size_t cap)
{
    if (n < 0 || (size_t)n >= cap)
        return km_seterr(KM_ERANGE, "path too long");
    return KM_OK;
}

static int ids_ok(const char *p, const char *s)
{
    if (!km_id_ok(p) || !km_id_ok(s))
        return km_seterr(KM_EINVAL, "invalid patient or session id");
    return KM_OK;
}

int cap_session_dir(const km_capture *c, const char *p, const char *s, char *out, size_t cap)
{
    int rc = ids_ok(p, s);
    if (rc)
        return rc;
    return fit(snprintf(out, cap, "%s/unprocessed/patient%s/session%s", c->data_dir, p, s), cap);
}

int cap_camera_dir(const km_capture *c, const char *p, const char *s, int cam, char *out,
                   size_t cap)
{
    int rc = ids_ok(p, s);
    if (rc)
        return rc;
    return fit(snprintf(out, cap, "%s/unprocessed/patient%s/session%s/camera%d", c->data_dir, p,
                        s, cam), cap);
}

int cap_chunk_path(const km_capture *c, const char *p, const char *s, int cam, int64_t chunk,
                   char *out, size_t cap)
{
    char dir[CAP_PATH];
    int rc = cap_camera_dir(c, p, s, cam, dir, sizeof dir);
    if (rc)
        return rc;
    return fit(snprintf(out, cap, "%s/%lld.mp4", dir, (long long)chunk), cap);
}

int cap_processed_dir(const km_capture *c, const char *p, const char *s, char *out, size_t cap)
{
    int rc = ids_ok(p, s);
    if (rc)
        return rc;
    return fit(snprintf(out, cap, "%s/processed/keypoints_3d/patient%s/session%s", c->data_dir,
                        p, s), cap);
}

int cap_calib_path(const km_capture *c, const char *p, const char *s, const char *ext,
                   char *out, size_t cap)
{
    char dir[CAP_PATH];
    int rc = cap_session_dir(c, p, s, dir, sizeof dir);
    if (rc)
        return rc;
    return fit(snprintf(out, cap, "%s/calibration.%s", dir, ext), cap);
}

static int mk(const char *fmt, const char *a, const char *b)
{
    char path[CAP_PATH];
    int rc = fit(snprintf(path, sizeof path, fmt, a, b), sizeof path);
    return rc ? rc : km_mkdirs(path);
}

int cap_make_session_dirs(const km_capture *c, const km_session_rec *r)
{
    km_pose_kind kinds[CAP_MAX_MODELS];
    int nk = 0;
    int rc = cap_models_parse(r->models, kinds, &nk);
    char dir[CAP_PATH];
    for (int cam = 0; !rc && cam < r->cameras_count; cam++) {
        rc = cap_camera_dir(c, r->patient_id, r->session_id, cam, dir, sizeof dir);
        for (int m = 0; !rc && m < nk; m++) {
            const char *name = km_pose_kind_name(kinds[m]);
            rc = mk("%s/2D/points/%s", dir, name);
            if (!rc)
                rc = mk("%s/2D/confidence/%s", dir, name);
        }
        if (!rc)
            rc = mk("%s/ensemble%s", dir, "");
    }
    if (!rc)
        rc = cap_processed_dir(c, r->patient_id, r->session_id, dir, sizeof dir);
    if (!rc)
        rc = km_mkdirs(dir);
    return rc;
}

int cap_remove_session_dirs(const km_capture *c, const char *p, const char *s)
{
    char dir[CAP_PATH];
    int rc = cap_session_dir(c, p, s, dir, sizeof dir);
    if (!rc)
        rc = km_rmtree(dir);
    if (!rc)
        rc = cap_processed_dir(c, p, s, dir, sizeof dir);
    if (!rc)
        rc = km_rmtree(dir);
    return rc;
}

int cap_write_npy(const char *path, const km_array *a)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = km_npy_encode(a, &buf, &len);
    if (rc)
        return rc;
    char tmp[CAP_PATH + 16];
    rc = fit(snprintf(tmp, sizeof tmp, "%s.part", path), sizeof tmp);
    FILE *f = rc ? NULL : fopen(tmp, "wb");
    if (!rc && !f)
        rc = km_seterr(KM_EIO, "cannot create %s: %s", tmp, strerror(errno));
    if (f) {
        int bad = fwrite(buf, 1, len, f) != len;
        bad |= fclose(f) != 0;
        if (bad || rename(tmp, path) != 0) {
            rc = km_seterr(KM_EIO, "cannot write %s: %s", path, strerror(errno));
            unlink(tmp);
        }
    }
    free(buf);
    return rc;
}

int cap_sync(const km_capture *c)
{
    int fd = open(c->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return km_seterr(KM_EIO, "cannot open %s: %s", c->data_dir, strerror(errno));
    int rc = syncfs(fd) == 0 ? KM_OK : km_seterr(KM_EIO, "syncfs: %s", strerror(errno));
    close(fd);
    return rc;
}

int capture_init(km_capture *c, km_store *store, const char *data_dir, const char *models_dir,
                 int64_t max_upload, int threads)
{
    memset(c, 0, sizeof *c);
    c->store = store;
    c->max_upload = max_upload;
    int rc = fit(snprintf(c->data_dir, sizeof c->data_dir, "%s", data_dir), sizeof c->data_dir);
    if (!rc)
        rc = fit(snprintf(c->tmp_dir, sizeof c->tmp_dir, "%s/tmp", data_dir), sizeof c->tmp_dir);
    if (!rc)
        rc = fit(snprintf(c->models_dir, sizeof c->models_dir, "%s", models_dir),
                 sizeof c->models_dir);
    if (!rc)
        rc = km_mkdirs(c->tmp_dir);
    if (rc)
        return rc;
    /* Uploads interrupted by a crash are garbage: start with an empty tmp. */
    km_rmtree(c->tmp_dir);
    if ((rc = km_mkdirs(c->tmp_dir)) != 0)
        return rc;
    c->pool = km_pool_create(threads);
    if (!c->pool)
        return KM_ENOMEM;
    pthread_mutex_init(&c->commit_mu, NULL);
    pthread_mutex_init(&c->nets_mu, NULL);
    atomic_init(&c->groups_busy, 0);
    pthread_mutex_init(&c->flight_mu, NULL);
    pthread_cond_init(&c->flight_cv, NULL);
    c->started_at = km_wall_s();
    return KM_OK;
}

void capture_destroy(km_capture *c)
{
    km_pool_destroy(c->pool);
    for (int k = 0; k < KM_POSE_NKINDS; k++)
        km_pose_net_free(c->nets[k]);
    pthread_mutex_destroy(&c->commit_mu);
    pthread_mutex_destroy(&c->nets_mu);
    pthread_mutex_destroy(&c->flight_mu);
    pthread_cond_destroy(&c->flight_cv);
}
