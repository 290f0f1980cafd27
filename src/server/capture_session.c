/*
 * capture_session.c - capture sessions: model lists, addressing (explicit
 * ids or the seed's "current session"), status JSON with progress, and
 * cancellation that stops running work before removing files.
 *
 * Why: the seed kept one global current_session; kinema keeps several in
 * the store and treats the newest active one as the default.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/capture.h"

int cap_models_parse(const char *models_json, km_pose_kind *kinds, int *n_out)
{
    json_error_t err;
    json_t *arr = json_loads(models_json, 0, &err);
    int rc = KM_OK;
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > CAP_MAX_MODELS)
        rc = km_seterr(KM_EINVAL, "models must be a list of 1..%d model names", CAP_MAX_MODELS);
    size_t i;
    json_t *v;
    int n = 0;
    json_array_foreach(arr, i, v) {
        if (rc)
            break;
        if (!json_is_string(v)) {
            rc = km_seterr(KM_EINVAL, "models[%zu] is not a string", i);
            break;
        }
        rc = km_pose_kind_parse(json_string_value(v), &kinds[n]);
        for (int j = 0; !rc && j < n; j++)
            if (kinds[j] == kinds[n])
                rc = km_seterr(KM_EINVAL, "model %s listed twice", json_string_value(v));
        n++;
    }
    json_decref(arr);
    if (!rc)
        *n_out = n;
    return rc;
}

int cap_session_resolve(km_capture *c, const char *p, const char *s, km_session_rec *out)
{
    int have_p = p && *p, have_s = s && *s;
    if (!have_p && !have_s)
        return km_store_session_current(c->store, out);
    if (!have_p || !have_s)
        return km_seterr(KM_EINVAL, "give both patient_id and session_id, or neither");
    return km_store_session_get(c->store, p, s, out);
}

static const char *group_state(const km_chunk_rec *ch, int n, int cameras)
{
    if (n < cameras)
        return "waiting_cameras";
    const char *st = "done";
    for (int i = 0; i < n; i++) {
        const char *x = ch[i].state;
        if (!strcmp(x, "failed"))
            return "failed";
        if (!strcmp(x, "unavailable"))
            st = "unavailable";
        else if (!strcmp(x, "processing") && strcmp(st, "unavailable"))
            st = "processing";
        else if (!strcmp(x, "received") && !strcmp(st, "done"))
            st = "queued";
    }
    return st;
}

static json_t *camera_json(const km_chunk_rec *ch)
{
    json_t *o = json_pack("{s:i, s:s, s:I, s:s, s:I, s:f}", "camera_id", ch->camera_id, "state",
                          ch->state, "size", (json_int_t)ch->size, "sha256", ch->sha256,
                          "frames", (json_int_t)ch->frames, "received_at", ch->received_at);
    if (o && ch->error[0])
        json_object_set_new(o, "error", json_string(ch->error));
    return o;
}

static int has_3d(km_capture *c, const km_session_rec *r, int64_t chunk)
{
    char dir[CAP_PATH], path[CAP_PATH + 64];
    if (cap_processed_dir(c, r->patient_id, r->session_id, dir, sizeof dir))
        return 0;
    snprintf(path, sizeof path, "%s/chunk_%lld_3d.npy", dir, (long long)chunk);
    return access(path, F_OK) == 0;
}

/* The queue task of a chunk group: state, attempts, completions (1 when
 * processed exactly once), or null before the group is complete. */
static json_t *task_json(km_capture *c, const km_session_rec *r, int64_t chunk)
{
    char key[192];
    km_task_rec t;
    snprintf(key, sizeof key, "%s/%s/%lld", r->patient_id, r->session_id, (long long)chunk);
    if (km_store_task_get(c->store, CAP_QUEUE, key, &t) != KM_OK)
        return json_null();
    return json_pack("{s:s, s:i, s:i}", "state", t.state, "attempts", t.attempts, "completions",
                     t.completions);
}

/* Walk chunks grouped by number: fills counters and, when list is not
 * NULL, one entry per group. */
static void walk_groups(km_capture *c, const km_session_rec *r, const km_chunk_rec *ch, int n,
                        json_t *counts, json_t *list)
{
    int groups = 0, groups_done = 0, processed = 0, failed = 0, unavailable = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && ch[j].chunk_number == ch[i].chunk_number)
            j++;
        const char *st = group_state(ch + i, j - i, r->cameras_count);
        groups++;
        groups_done += !strcmp(st, "done") || !strcmp(st, "unavailable") || !strcmp(st, "failed");
        for (int k = i; k < j; k++) {
            processed += !strcmp(ch[k].state, "done");
            failed += !strcmp(ch[k].state, "failed");
            unavailable += !strcmp(ch[k].state, "unavailable");
        }
        if (list) {
            json_t *cams = json_array();
            for (int k = i; k < j; k++)
                json_array_append_new(cams, camera_json(&ch[k]));
            json_array_append_new(list, json_pack("{s:I, s:s, s:b, s:o, s:o}", "chunk_number",
                                                  (json_int_t)ch[i].chunk_number, "state", st,
                                                  "has_3d", has_3d(c, r, ch[i].chunk_number),
                                                  "cameras", cams, "task",
                                                  task_json(c, r, ch[i].chunk_number)));
        }
        i = j;
    }
    json_object_set_new(counts, "received", json_integer(n));
    json_object_set_new(counts, "processed", json_integer(processed));
    json_object_set_new(counts, "failed", json_integer(failed));
    json_object_set_new(counts, "unavailable", json_integer(unavailable));
    json_object_set_new(counts, "groups", json_integer(groups));
    json_object_set_new(counts, "groups_finished", json_integer(groups_done));
}

static const char *processing_state(json_t *counts, int n)
{
    json_int_t groups = json_integer_value(json_object_get(counts, "groups"));
    json_int_t fin = json_integer_value(json_object_get(counts, "groups_finished"));
    if (n == 0)
        return "waiting";
    return fin == groups ? "done" : "processing";
}

json_t *cap_session_json(km_capture *c, const km_session_rec *r, int detail)
{
    km_chunk_rec *ch = NULL;
    int n = 0;
    if (km_store_chunk_list(c->store, r->patient_id, r->session_id, &ch, &n) != KM_OK)
        return NULL;
    json_t *models = json_loads(r->models, 0, NULL);
    json_t *counts = json_object();
    json_t *list = detail ? json_array() : NULL;
    walk_groups(c, r, ch, n, counts, list);
    json_int_t recv = json_integer_value(json_object_get(counts, "received"));
    json_int_t done = json_integer_value(json_object_get(counts, "processed")) +
                      json_integer_value(json_object_get(counts, "unavailable")) +
                      json_integer_value(json_object_get(counts, "failed"));
    json_t *o = json_pack("{s:s, s:s, s:i, s:o, s:s, s:b, s:b, s:f, s:s, s:o, s:f}",
                          "patient_id", r->patient_id, "session_id", r->session_id,
                          "cameras_count", r->cameras_count, "models",
                          models ? models : json_array(), "state", r->state, "has_calibration",
                          r->has_calibration, "current", r->is_current, "created_at",
                          r->created_at, "processing", processing_state(counts, n), "chunks",
                          counts, "progress", recv ? (double)done / (double)recv : 0.0);
    if (o && list)
        json_object_set_new(o, "chunk_list", list);
    else
        json_decref(list);
    free(ch);
    return o;
}

/* ---- running tasks vs cancellation ---- */

static int find_slot(char (*slots)[132], const char *key)
{
    for (int i = 0; i < CAP_MAX_INFLIGHT; i++)
        if (!strcmp(slots[i], key))
            return i;
    return -1;
}

static int add_slot(char (*slots)[132], const char *key)
{
    int i = find_slot(slots, "");
    if (i >= 0)
        snprintf(slots[i], sizeof slots[i], "%s", key);
    return i;
}

int cap_is_cancelled(km_capture *c, const char *p, const char *s)
{
    char key[132];
    snprintf(key, sizeof key, "%s/%s", p, s);
    pthread_mutex_lock(&c->flight_mu);
    int r = find_slot(c->cancelled, key) >= 0;
    pthread_mutex_unlock(&c->flight_mu);
    return r;
}


int cap_flight_begin(km_capture *c, const char *p, const char *s)
{
    char key[132];
    snprintf(key, sizeof key, "%s/%s", p, s);
    pthread_mutex_lock(&c->flight_mu);
    int slot = find_slot(c->cancelled, key) >= 0 ? -2 : add_slot(c->inflight, key);
    pthread_mutex_unlock(&c->flight_mu);
    return slot;
}

void cap_flight_end(km_capture *c, int slot)
{
    if (slot < 0)
        return;
    pthread_mutex_lock(&c->flight_mu);
    c->inflight[slot][0] = 0;
    pthread_cond_broadcast(&c->flight_cv);
    pthread_mutex_unlock(&c->flight_mu);
}

/* Wait (bounded) until no task of key runs. */
static void wait_idle(km_capture *c, const char *key)
{
    pthread_mutex_lock(&c->flight_mu);
    for (int i = 0; i < 1200 && find_slot(c->inflight, key) >= 0; i++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&c->flight_cv, &c->flight_mu, &ts);
    }
    pthread_mutex_unlock(&c->flight_mu);
}

int cap_session_cancel(km_capture *c, const char *p, const char *s)
{
    char key[132];
    snprintf(key, sizeof key, "%s/%s", p, s);
    pthread_mutex_lock(&c->flight_mu);
    int slot = add_slot(c->cancelled, key);
    pthread_mutex_unlock(&c->flight_mu);
    pthread_mutex_lock(&c->commit_mu);
    int rc = km_store_session_delete(c->store, p, s);
    pthread_mutex_unlock(&c->commit_mu);
    wait_idle(c, key);
    if (!rc)
        rc = cap_remove_session_dirs(c, p, s);
    pthread_mutex_lock(&c->flight_mu);
    if (slot >= 0)
        c->cancelled[slot][0] = 0;
    pthread_mutex_unlock(&c->flight_mu);
    return rc;
}
