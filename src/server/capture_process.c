/*
 * capture_process.c - the capture worker: one queue task per chunk group
 * (chunk N present for every camera) → pose per camera in parallel →
 * triangulation → chunk states.
 *
 * Exactly-once: results are complete files renamed into place (a rerun
 * rewrites the same files), synced to disk once, then the chunk rows are
 * marked done, then the queue acks the task under its lease. A crash at
 * any point leaves the task claimed or pending; the next start requeues
 * it and the rerun finishes it. A task of a cancelled session does
 * nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "server/capture.h"

int cap_enqueue_chunk(km_capture *c, const char *p, const char *s, int64_t chunk)
{
    char key[192];
    snprintf(key, sizeof key, "%s/%s/%lld", p, s, (long long)chunk);
    json_t *j = json_pack("{s:s, s:s, s:I}", "patient_id", p, "session_id", s, "chunk_number",
                          (json_int_t)chunk);
    char *payload = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!payload)
        return km_seterr(KM_ENOMEM, "out of memory");
    int created = 0;
    int rc = km_queue_push(c->queue, key, payload, &created);
    free(payload);
    if (!rc && created)
        km_log(KM_LOG_INFO, "queued chunk group %s", key);
    return rc;
}

int cap_reconcile(km_capture *c)
{
    km_session_rec *ss = NULL;
    int n = 0;
    int rc = km_store_session_list(c->store, &ss, &n);
    for (int i = 0; !rc && i < n; i++) {
        if (strcmp(ss[i].state, "active") != 0)
            continue;
        int64_t *groups = NULL;
        int ng = 0;
        rc = km_store_chunk_complete_groups(c->store, ss[i].patient_id, ss[i].session_id,
                                            &groups, &ng);
        for (int g = 0; !rc && g < ng; g++)
            rc = cap_enqueue_chunk(c, ss[i].patient_id, ss[i].session_id, groups[g]);
        free(groups);
    }
    free(ss);
    return rc;
}

typedef struct cams_job {
    km_capture *c;
    const km_session_rec *r;
    int64_t chunk;
    int threads; /* per camera */
    cap_cam_result *res;
} cams_job;

static void cams_range(void *arg, int begin, int end)
{
    cams_job *j = arg;
    for (int cam = begin; cam < end; cam++)
        cap_pose_camera(j->c, j->r, cam, j->chunk, j->threads, &j->res[cam]);
}

/* The first camera error decides the chunk's state. */
static int worst(const cap_cam_result *res, int n, const char **state, const char **err)
{
    *state = "done";
    *err = "";
    for (int i = 0; i < n; i++) {
        if (res[i].rc == KM_ECANCELED)
            return KM_ECANCELED;
        if (res[i].rc && !strcmp(*state, "done")) {
            *state = res[i].rc == KM_EUNSUPPORTED ? "unavailable" : "failed";
            *err = res[i].err;
        }
    }
    return KM_OK;
}

static int finish(km_capture *c, const km_session_rec *r, int64_t chunk, int per_cam,
                  cap_cam_result *res)
{
    const char *state, *err;
    if (worst(res, r->cameras_count, &state, &err) == KM_ECANCELED)
        return km_seterr(KM_ECANCELED, "interrupted");
    char err3d[256] = "";
    int n3d = 0;
    if (!strcmp(state, "done") && cap_triangulate_chunk(c, r, chunk, res, &n3d) != KM_OK) {
        snprintf(err3d, sizeof err3d, "3D not written: %s", km_errmsg());
        err = err3d;
    }
    int rc = cap_sync(c);
    for (int cam = 0; !rc && cam < r->cameras_count; cam++)
        rc = km_store_chunk_set_state(c->store, r->patient_id, r->session_id, cam, chunk,
                                      state, err, res[cam].nframes);
    km_log(KM_LOG_INFO, "chunk %lld of %s/%s: %s%s%s (3D frames %d, %d threads per camera)",
           (long long)chunk, r->patient_id, r->session_id, state, err[0] ? ": " : "", err, n3d,
           per_cam);
    return rc;
}

static int process(km_capture *c, const km_session_rec *r, int64_t chunk)
{
    int rc = km_store_chunk_set_state(c->store, r->patient_id, r->session_id, -1, chunk,
                                      "processing", "", -1);
    if (rc)
        return rc;
    cap_cam_result *res = calloc((size_t)r->cameras_count, sizeof *res);
    if (!res)
        return km_seterr(KM_ENOMEM, "out of memory");
    /* Cameras run in parallel on the pool; threads they leave idle (one
     * camera on two cores) run each camera's models in parallel. */
    int groups = atomic_fetch_add(&c->groups_busy, 1) + 1;
    int per_cam = km_pool_size(c->pool) / (groups * r->cameras_count);
    cams_job j = {c, r, chunk, per_cam < 1 ? 1 : per_cam, res};
    km_pool_parallel_for(c->pool, r->cameras_count, r->cameras_count, cams_range, &j);
    atomic_fetch_sub(&c->groups_busy, 1);
    rc = finish(c, r, chunk, j.threads, res);
    for (int i = 0; i < r->cameras_count; i++)
        free(res[i].kp);
    free(res);
    return rc;
}

int cap_process_task(km_queue *q, const km_task *t, void *data)
{
    km_capture *c = data;
    json_error_t jerr;
    json_t *j = json_loads(t->payload, 0, &jerr);
    const char *p = json_string_value(json_object_get(j, "patient_id"));
    const char *s = json_string_value(json_object_get(j, "session_id"));
    json_t *cn = json_object_get(j, "chunk_number");
    if (!km_id_ok(p) || !km_id_ok(s) || !json_is_integer(cn)) {
        json_decref(j);
        return km_seterr(KM_EFORMAT, "bad task payload %s", t->payload);
    }
    int64_t chunk = json_integer_value(cn);
    km_session_rec r;
    int rc = KM_OK;
    int slot = cap_flight_begin(c, p, s);
    if (slot == -2 || km_store_session_get(c->store, p, s, &r) != KM_OK ||
        strcmp(r.state, "active") != 0)
        km_log(KM_LOG_INFO, "task %s: session gone, nothing to do", t->key);
    else
        rc = process(c, &r, chunk);
    cap_flight_end(c, slot);
    json_decref(j);
    return rc;
}
