/*
 * routes_session.c - capture session endpoints:
 *   POST /api/session/start     {patient_id, session_id, cameras_count, models?, calibration?}
 *   POST /api/session/cancel    {patient_id?, session_id?}  (default: current session)
 *   GET  /api/session/status    ?patient_id=&session_id=    (default: current session)
 *   GET  /api/sessions
 *   GET  /api/sessions/{patient}/{session}
 * The seed's single current session is the newest active one.
 */
#include <stdlib.h>
#include <string.h>

#include "server/capture.h"

#define DEFAULT_MODELS "[\"blazepose-full\",\"movenet-thunder\"]"

/* Answer for a session lookup failure. */
static void session_error(km_req *r, int rc, int explicit_ids)
{
    if (rc == KM_ENOTFOUND && !explicit_ids)
        km_resp_error(r, 409, "no_active_session", NULL,
                      "no active session: POST /api/session/start first");
    else if (rc == KM_ENOTFOUND)
        km_resp_error(r, 404, "session_not_found", NULL, "%s", km_errmsg());
    else
        km_resp_km_error(r, rc, NULL);
}

static int parse_models(km_req *r, json_t *body, char *out, size_t cap)
{
    json_t *m = json_object_get(body, "models");
    if (!m || json_is_null(m)) {
        snprintf(out, cap, "%s", DEFAULT_MODELS);
        return KM_OK;
    }
    char *text = json_is_array(m) ? json_dumps(m, JSON_COMPACT) : NULL;
    km_pose_kind kinds[CAP_MAX_MODELS];
    int n = 0, rc = KM_EINVAL;
    if (text && strlen(text) < cap && (rc = cap_models_parse(text, kinds, &n)) == KM_OK) {
        /* Store canonical names. */
        json_t *arr = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(arr, json_string(km_pose_kind_name(kinds[i])));
        char *canon = json_dumps(arr, JSON_COMPACT);
        snprintf(out, cap, "%s", canon ? canon : "[]");
        free(canon);
        json_decref(arr);
    }
    if (rc)
        km_resp_error(r, 400, "invalid_field", "models", "models: %s",
                      json_is_array(m) ? km_errmsg() : "must be a list of model names");
    free(text);
    return rc;
}

static int same_params(const km_session_rec *a, const km_session_rec *b)
{
    return a->cameras_count == b->cameras_count && !strcmp(a->models, b->models);
}

static void respond_session(km_req *r, km_capture *c, int status, const char *what,
                            const km_session_rec *rec)
{
    json_t *s = cap_session_json(c, rec, 0);
    km_resp_json(r, status, json_pack("{s:s, s:o*}", "status", what, "session", s));
}

/* Create rows and directories; with a calibration, save it or undo all. */
static int create_session(km_req *r, km_capture *c, km_session_rec *rec, json_t *calib)
{
    int rc = cap_make_session_dirs(c, rec);
    if (!rc)
        rc = km_store_session_create(c->store, rec);
    if (rc) {
        km_resp_km_error(r, rc, NULL);
        return rc;
    }
    if (calib) {
        char *text = json_dumps(calib, JSON_COMPACT);
        rc = text ? cap_save_calibration(c, rec, text, strlen(text)) : KM_ENOMEM;
        free(text);
        if (rc) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", km_errmsg());
            km_store_session_delete(c->store, rec->patient_id, rec->session_id);
            cap_remove_session_dirs(c, rec->patient_id, rec->session_id);
            km_resp_error(r, 400, "invalid_field", "calibration", "%s", msg);
            return rc;
        }
        rec->has_calibration = 1;
    }
    return KM_OK;
}

static void start(km_req *r, void *data)
{
    km_capture *c = data;
    json_t *body;
    if (km_req_json(r, &body))
        return;
    const char *p = NULL, *s = NULL;
    int64_t ncams = 0;
    km_session_rec rec;
    memset(&rec, 0, sizeof rec);
    json_t *calib = json_object_get(body, "calibration");
    if (km_field_id(r, body, "patient_id", 1, &p) || km_field_id(r, body, "session_id", 1, &s) ||
        km_field_int(r, body, "cameras_count", 1, 1, KM_SERVE_MAX_CAMERAS, &ncams) ||
        parse_models(r, body, rec.models, sizeof rec.models))
        goto out;
    if (calib && !json_is_null(calib) && !json_is_object(calib)) {
        km_resp_error(r, 400, "invalid_field", "calibration",
                      "calibration must be an object (kinema calibration JSON)");
        goto out;
    }
    snprintf(rec.patient_id, sizeof rec.patient_id, "%s", p);
    snprintf(rec.session_id, sizeof rec.session_id, "%s", s);
    rec.cameras_count = (int)ncams;
    snprintf(rec.state, sizeof rec.state, "active");
    rec.created_at = km_wall_s();
    pthread_mutex_lock(&c->commit_mu);
    km_session_rec old;
    if (km_store_session_get(c->store, p, s, &old) == KM_OK && !strcmp(old.state, "active")) {
        pthread_mutex_unlock(&c->commit_mu);
        if (same_params(&old, &rec))
            respond_session(r, c, 200, "exists", &old);
        else
            km_resp_error(r, 409, "session_exists", "session_id",
                          "session %s/%s exists with other cameras_count or models", p, s);
        goto out;
    }
    int rc = create_session(r, c, &rec, json_is_object(calib) ? calib : NULL);
    pthread_mutex_unlock(&c->commit_mu);
    if (!rc && km_store_session_get(c->store, p, s, &rec) == KM_OK) {
        km_log(KM_LOG_INFO, "session %s/%s started with %d cameras", p, s, rec.cameras_count);
        respond_session(r, c, 201, "started", &rec);
    } else if (!rc) {
        km_resp_km_error(r, KM_EIO, NULL);
    }
out:
    json_decref(body);
}

/* Optional ids from a JSON body or the query string. */
static int ids_from(km_req *r, json_t *body, char *p, char *s)
{
    const char *jp = NULL, *js = NULL;
    if (body) {
        int a = km_field_id(r, body, "patient_id", 0, &jp);
        if (a && a != KM_ENOTFOUND)
            return a;
        int b = km_field_id(r, body, "session_id", 0, &js);
        if (b && b != KM_ENOTFOUND)
            return b;
        snprintf(p, KM_ID_MAX + 1, "%s", jp ? jp : "");
        snprintf(s, KM_ID_MAX + 1, "%s", js ? js : "");
        return KM_OK;
    }
    int a = km_req_query(r, "patient_id", p, KM_ID_MAX + 1);
    int b = km_req_query(r, "session_id", s, KM_ID_MAX + 1);
    if (a < 0 || b < 0) {
        km_resp_error(r, 400, "invalid_id", a < 0 ? "patient_id" : "session_id",
                      "ids must match [A-Za-z0-9_-]{1,64}");
        return KM_EINVAL;
    }
    if (a == 0)
        p[0] = 0;
    if (b == 0)
        s[0] = 0;
    if ((p[0] && km_text_id(r, "patient_id", p, 1)) || (s[0] && km_text_id(r, "session_id", s, 1)))
        return KM_EINVAL;
    return KM_OK;
}

static void cancel(km_req *r, void *data)
{
    km_capture *c = data;
    json_t *body = NULL;
    if (km_req_json_opt(r, &body))
        return;
    char p[KM_ID_MAX + 1] = "", s[KM_ID_MAX + 1] = "";
    km_session_rec rec;
    int rc = ids_from(r, body, p, s);
    if (rc)
        goto out;
    rc = cap_session_resolve(c, p, s, &rec);
    if (rc == KM_EINVAL) {
        km_resp_error(r, 400, "missing_field", p[0] ? "session_id" : "patient_id", "%s",
                      km_errmsg());
        goto out;
    }
    if (rc) {
        session_error(r, rc, p[0] != 0);
        goto out;
    }
    rc = cap_session_cancel(c, rec.patient_id, rec.session_id);
    if (rc) {
        km_resp_km_error(r, rc, NULL);
        goto out;
    }
    km_log(KM_LOG_INFO, "session %s/%s cancelled", rec.patient_id, rec.session_id);
    km_resp_json(r, 200, json_pack("{s:s, s:s, s:s}", "status", "cancelled", "patient_id",
                                   rec.patient_id, "session_id", rec.session_id));
out:
    json_decref(body);
}

static void status(km_req *r, void *data)
{
    km_capture *c = data;
    char p[KM_ID_MAX + 1] = "", s[KM_ID_MAX + 1] = "";
    if (ids_from(r, NULL, p, s))
        return;
    km_session_rec rec;
    int rc = cap_session_resolve(c, p, s, &rec);
    if (rc == KM_ENOTFOUND && !p[0] && !s[0]) {
        km_resp_json(r, 200, json_pack("{s:b, s:s}", "active", 0, "status", "idle"));
        return;
    }
    if (rc == KM_EINVAL) {
        km_resp_error(r, 400, "missing_field", p[0] ? "session_id" : "patient_id", "%s",
                      km_errmsg());
        return;
    }
    if (rc) {
        session_error(r, rc, 1);
        return;
    }
    json_t *o = cap_session_json(c, &rec, 0);
    if (!o) {
        km_resp_km_error(r, KM_EIO, NULL);
        return;
    }
    json_object_set_new(o, "active", json_boolean(!strcmp(rec.state, "active")));
    km_resp_json(r, 200, o);
}

static void list(km_req *r, void *data)
{
    km_capture *c = data;
    km_session_rec *ss = NULL;
    int n = 0;
    int rc = km_store_session_list(c->store, &ss, &n);
    if (rc) {
        km_resp_km_error(r, rc, NULL);
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, cap_session_json(c, &ss[i], 0));
    free(ss);
    km_resp_json(r, 200, json_pack("{s:o, s:i}", "sessions", arr, "count", n));
}

static void detail(km_req *r, void *data)
{
    km_capture *c = data;
    const char *p = km_req_param(r, "patient"), *s = km_req_param(r, "session");
    if (km_text_id(r, "patient_id", p, 1) || km_text_id(r, "session_id", s, 1))
        return;
    km_session_rec rec;
    int rc = km_store_session_get(c->store, p, s, &rec);
    if (rc) {
        session_error(r, rc, 1);
        return;
    }
    json_t *o = cap_session_json(c, &rec, 1);
    if (!o)
        km_resp_km_error(r, KM_EIO, NULL);
    else
        km_resp_json(r, 200, o);
}

int routes_session(km_server *srv, km_capture *c)
{
    int rc = km_server_route(srv, "POST", "/api/session/start", 0, start, c);
    if (!rc)
        rc = km_server_route(srv, "POST", "/api/session/cancel", 0, cancel, c);
    if (!rc)
        rc = km_server_route(srv, "GET", "/api/session/status", 0, status, c);
    if (!rc)
        rc = km_server_route(srv, "GET", "/api/sessions", 0, list, c);
    if (!rc)
        rc = km_server_route(srv, "GET", "/api/sessions/{patient}/{session}", 0, detail, c);
    return rc;
}
