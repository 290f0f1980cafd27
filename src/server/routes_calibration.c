/*
 * routes_calibration.c - calibration and 3D results of a session:
 *   PUT  /api/sessions/{patient}/{session}/calibration   body: TOML, .npz or JSON
 *   POST /api/cameras/recalibrate                         {patient_id?, session_id?}
 *   GET  /api/sessions/{patient}/{session}/download/{file}
 *        file = keypoints_3d.npy | keypoints_3d.trc | keypoints_3d.c3d
 * The calibration is kept as calibration.npz (the seed's format) and
 * calibration.toml beside the session's cameras.
 */
#include <stdlib.h>
#include <string.h>

#include "server/capture.h"

#define MAX_CALIB_BODY (16 << 20)

static int path_session(km_req *r, km_capture *c, km_session_rec *rec)
{
    const char *p = km_req_param(r, "patient"), *s = km_req_param(r, "session");
    if (km_text_id(r, "patient_id", p, 1) || km_text_id(r, "session_id", s, 1))
        return KM_EINVAL;
    int rc = km_store_session_get(c->store, p, s, rec);
    if (rc == KM_ENOTFOUND)
        km_resp_error(r, 404, "session_not_found", NULL, "%s", km_errmsg());
    else if (rc)
        km_resp_km_error(r, rc, NULL);
    return rc;
}

static void put_calibration(km_req *r, void *data)
{
    km_capture *c = data;
    km_session_rec rec;
    if (path_session(r, c, &rec)) {
        km_req_drain(r, 4 << 20);
        return;
    }
    char *body = NULL;
    size_t len = 0;
    int rc = km_req_body(r, MAX_CALIB_BODY, &body, &len);
    if (rc) {
        km_req_drain(r, 4 << 20);
        km_resp_km_error(r, rc, "calibration");
        return;
    }
    if (len == 0) {
        free(body);
        km_resp_error(r, 400, "missing_field", "calibration", "empty calibration body");
        return;
    }
    pthread_mutex_lock(&c->commit_mu);
    rc = cap_save_calibration(c, &rec, body, len);
    pthread_mutex_unlock(&c->commit_mu);
    free(body);
    int groups = 0;
    if (rc == KM_EFORMAT || rc == KM_EINVAL)
        km_resp_error(r, 400, "invalid_calibration", "calibration", "%s", km_errmsg());
    else if (rc)
        km_resp_km_error(r, rc, "calibration");
    else if (cap_retriangulate(c, &rec, &groups) != KM_OK)
        km_resp_error(r, 500, "internal", NULL, "calibration saved, 3D not rewritten: %s",
                      km_errmsg());
    else
        km_resp_json(r, 200, json_pack("{s:s, s:s, s:s, s:i, s:i}", "status", "saved",
                                       "patient_id", rec.patient_id, "session_id",
                                       rec.session_id, "cameras", rec.cameras_count,
                                       "chunks_triangulated", groups));
}

static void recalibrate(km_req *r, void *data)
{
    km_capture *c = data;
    json_t *body = NULL;
    if (km_req_json_opt(r, &body))
        return;
    const char *p = NULL, *s = NULL;
    int a = km_field_id(r, body, "patient_id", 0, &p);
    int b = a && a != KM_ENOTFOUND ? a : km_field_id(r, body, "session_id", 0, &s);
    km_session_rec rec;
    if ((a && a != KM_ENOTFOUND) || (b && b != KM_ENOTFOUND))
        goto out;
    int rc = cap_session_resolve(c, p, s, &rec);
    if (rc) {
        if (rc == KM_ENOTFOUND && !p && !s)
            km_resp_error(r, 409, "no_active_session", NULL, "no active session");
        else if (rc == KM_ENOTFOUND)
            km_resp_error(r, 404, "session_not_found", NULL, "%s", km_errmsg());
        else
            km_resp_error(r, 400, "missing_field", p ? "session_id" : "patient_id", "%s",
                          km_errmsg());
        goto out;
    }
    json_t *report = NULL;
    int groups = 0;
    rc = cap_recalibrate(c, &rec, &report);
    if (!rc && cap_retriangulate(c, &rec, &groups) == KM_OK)
        json_object_set_new(report, "chunks_triangulated", json_integer(groups));
    if (rc == KM_EAGAIN)
        km_resp_error(r, 409, "not_enough_data", NULL, "%s", km_errmsg());
    else if (rc)
        km_resp_error(r, 422, "calibration_failed", NULL, "%s", km_errmsg());
    else
        km_resp_json(r, 200, json_pack("{s:s, s:s, s:s, s:o}", "status", "recalibrated",
                                       "patient_id", rec.patient_id, "session_id",
                                       rec.session_id, "report", report));
out:
    json_decref(body);
}

static void download(km_req *r, void *data)
{
    km_capture *c = data;
    km_session_rec rec;
    if (path_session(r, c, &rec))
        return;
    const char *file = km_req_param(r, "file");
    const char *fmt = NULL;
    if (!strcmp(file, "keypoints_3d.npy"))
        fmt = "npy";
    else if (!strcmp(file, "keypoints_3d.trc"))
        fmt = "trc";
    else if (!strcmp(file, "keypoints_3d.c3d"))
        fmt = "c3d";
    if (!fmt) {
        km_resp_error(r, 404, "not_found", "file",
                      "downloads: keypoints_3d.npy, keypoints_3d.trc, keypoints_3d.c3d");
        return;
    }
    char path[CAP_PATH + 64];
    pthread_mutex_lock(&c->commit_mu);
    int rc = cap_export_3d(c, &rec, fmt, path, sizeof path);
    pthread_mutex_unlock(&c->commit_mu);
    if (rc) {
        km_resp_km_error(r, rc, NULL);
        return;
    }
    char name[200];
    snprintf(name, sizeof name, "%s_%s_keypoints_3d.%s", rec.patient_id, rec.session_id, fmt);
    km_resp_file(r, path, !strcmp(fmt, "trc") ? "text/plain" : "application/octet-stream",
                 name);
}

int routes_calibration(km_server *srv, km_capture *c)
{
    int rc = km_server_route(srv, "PUT", "/api/sessions/{patient}/{session}/calibration", 0,
                             put_calibration, c);
    if (!rc)
        rc = km_server_route(srv, "POST", "/api/cameras/recalibrate", 0, recalibrate, c);
    if (!rc)
        rc = km_server_route(srv, "GET", "/api/sessions/{patient}/{session}/download/{file}", 0,
                             download, c);
    return rc;
}
